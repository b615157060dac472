//! The attribute's arguments: `allow = …`, `listen = …`, `syscalls = […]`,
//! `deny_syscalls = […]`, the options (`audit = …`, `fallback = …`, `report = …`,
//! `keep_capabilities = […]`, …), `log = "PATH"`, or
//! `from_build`, parsed into a checked [`model::Policy`].
//!
//! Every error is spanned at the key or literal it is about. Stable Rust cannot point inside
//! a string literal (`Literal::subspan` is unstable), so an endpoint error spans the whole
//! literal and its message names the offending part.

use std::collections::HashMap;

use network_sandbox_build::model::{
    self, OptionSpec, OptionValue, Options, Syntax, ALLOW, LISTEN, LISTEN_FORM,
};
use network_sandbox_build::profiles;
use network_sandbox_build::valid::{listen_from_strs, policy_from_strs, EndpointError};
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Meta, Token};

/// What the attribute asks for.
pub(crate) enum Args {
    /// A policy written in the attribute, parsed and validated.
    Inline(model::Policy),
    /// `from_build`: the policy `build.rs` wrote to `$OUT_DIR`.
    FromBuild(Span),
}

/// The attribute's own key, besides the policy's.
const FROM_BUILD: &str = "from_build";
const ALLOW_FORM: &str = "allow = \"192.0.2.1:443\" or allow = [\"192.0.2.1:443\", …]";
const LOG_FORM: &str = "log = \"/var/log/sandbox.jsonl\"";

/// Parses and checks the attribute's arguments.
pub(crate) fn parse(args: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;

    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut allow: Option<Vec<LitStr>> = None;
    let mut listen: Vec<LitStr> = Vec::new();
    let mut options = Options::default();
    let mut from_build: Option<Span> = None;
    let mut first_policy_key: Option<(String, Span)> = None;
    let mut profile_keys: Vec<(String, Span, Vec<LitStr>)> = Vec::new();
    let mut log: Option<String> = None;

    for meta in &metas {
        let path = meta.path();
        let Some(ident) = path.get_ident() else {
            return Err(syn::Error::new_spanned(
                path,
                format!(
                    "unknown key `{}`: expected {}",
                    quote::quote!(#path),
                    model::expected_keys(&[FROM_BUILD])
                ),
            ));
        };
        let key = ident.to_string();
        let option = model::option(&key);
        let list = [profiles::SYSCALLS, profiles::DENY_SYSCALLS].contains(&key.as_str());
        if key != ALLOW
            && key != LISTEN
            && key != FROM_BUILD
            && key != model::LOG
            && option.is_none()
            && !list
        {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "unknown key `{key}`: expected {}",
                    model::expected_keys(&[FROM_BUILD])
                ),
            ));
        }
        if seen.insert(key.clone(), ident.span()).is_some() {
            return Err(syn::Error::new(
                ident.span(),
                format!("duplicate key `{key}`: give each key once"),
            ));
        }
        if key == FROM_BUILD {
            if !matches!(meta, Meta::Path(_)) {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`from_build` takes no value: write #[network_sandbox(from_build)]",
                ));
            }
            from_build = Some(ident.span());
            continue;
        }
        first_policy_key.get_or_insert((key.clone(), ident.span()));

        if list {
            // System call profile (issue 14): checked once the policy is whole.
            let Meta::NameValue(nv) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("`{key}` needs a list: write {key} = [\"@system-service\"]"),
                ));
            };
            let literals = name_literals(&nv.value, &key)?;
            profile_keys.push((key.clone(), ident.span(), literals));
            continue;
        }
        let value = value_of(meta, &key, option)?;
        if key == model::LOG {
            log = Some(log_path(value)?);
            continue;
        }
        match option {
            Some(spec) if matches!(spec.syntax, Syntax::Names { .. }) => {
                set_names(spec, value, &mut options)?;
            }
            Some(spec) => (option_value(spec, value)?.set)(&mut options),
            None if key == LISTEN => listen = endpoint_literals(value, LISTEN)?,
            None => allow = Some(endpoint_literals(value, ALLOW)?),
        }
    }

    if let Some(span) = from_build {
        return match first_policy_key {
            Some((key, key_span)) => Err(syn::Error::new(
                key_span,
                format!(
                    "`{key}` cannot be combined with `from_build`: with `from_build` the whole \
                     policy comes from build.rs; move `{key}` to the policy file"
                ),
            )),
            None => Ok(Args::FromBuild(span)),
        };
    }

    let Some(allow) = allow else {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing `allow`: write allow = \"192.0.2.1:443\", a list of endpoints, or \
             allow = [] for no network (or `from_build` for a policy compiled by build.rs)",
        ));
    };

    if options.log_allowed && log.is_none() {
        let span = seen
            .get(model::LOG_ALLOWED.key)
            .copied()
            .unwrap_or_else(Span::call_site);
        return Err(syn::Error::new(
            span,
            "`log_allowed` needs `log`: add log = \"/var/log/sandbox.jsonl\"",
        ));
    }

    let texts: Vec<String> = allow.iter().map(LitStr::value).collect();
    let mut policy = policy_from_strs(&texts, options)
        .map_err(|errors| combine(errors.iter().map(|e| endpoint_error(&allow, e))))?;
    let texts: Vec<String> = listen.iter().map(LitStr::value).collect();
    policy.listen = listen_from_strs(&texts, &policy.options)
        .map_err(|errors| combine(errors.iter().map(|e| endpoint_error(&listen, e))))?;
    policy.log = log;
    policy.syscalls = profile(&profile_keys)?;
    Ok(Args::Inline(policy))
}

/// The system call profile of `syscalls = [...]` and `deny_syscalls = [...]` (issue 14),
/// checked: each error spans the literal it is about, or the key for the list as a whole.
fn profile(keys: &[(String, Span, Vec<LitStr>)]) -> syn::Result<profiles::Profile> {
    let mut profile = profiles::Profile::default();
    let find = |list: profiles::List| keys.iter().find(|(k, ..)| k == list.key());
    if let Some((_, _, l)) = find(profiles::List::Allow) {
        profile.allow = Some(l.iter().map(LitStr::value).collect());
    }
    if let Some((_, _, l)) = find(profiles::List::Deny) {
        profile.deny = l.iter().map(LitStr::value).collect();
    }
    profiles::check(&profile, &profiles::SANDBOX_NEEDS).map_err(|errors| {
        combine(errors.into_iter().map(|e| {
            let (_, key_span, literals) = find(e.list).expect("errors are about a list given");
            let span = e.index.map_or(*key_span, |i| literals[i].span());
            syn::Error::new(span, e.message)
        }))
    })?;
    Ok(profile)
}

/// The string literals of a list of names: one string or an array of strings.
fn name_literals(value: &Expr, key: &str) -> syn::Result<Vec<LitStr>> {
    let form = format!("{key} = [\"@system-service\", \"getrandom\"]");
    string_literals(value, key, "@system-service", &form)
}

/// The path of `log = "PATH"`, spanned at the literal when it is not one or is empty.
fn log_path(value: &Expr) -> syn::Result<String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => match model::log_path_error(&s.value()) {
            None => Ok(s.value()),
            Some(message) => Err(syn::Error::new(s.span(), message)),
        },
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a file name for `log`, as a string: {LOG_FORM}"),
        )),
    }
}

/// The value of `key = value`, or an error for `key` alone or `key(…)`. `option` is the
/// key's option, `None` for `allow` and `listen`.
fn value_of<'m>(meta: &'m Meta, key: &str, option: Option<&OptionSpec>) -> syn::Result<&'m Expr> {
    let form = match key {
        LISTEN => LISTEN_FORM,
        model::LOG => LOG_FORM,
        _ => ALLOW_FORM,
    };
    let example = option.map_or(form, |o| o.example);
    match meta {
        Meta::NameValue(nv) => Ok(&nv.value),
        Meta::Path(p) => Err(syn::Error::new_spanned(
            p,
            format!("`{key}` needs a value: write {example}"),
        )),
        Meta::List(l) => Err(syn::Error::new_spanned(
            l,
            format!("write `{key} = …`, not `{key}(…)`: {example}"),
        )),
    }
}

/// The string literals of `allow` or `listen` (`key`): one string or an array of strings.
fn endpoint_literals(value: &Expr, key: &str) -> syn::Result<Vec<LitStr>> {
    let (example, form) = if key == LISTEN {
        ("127.0.0.1:8080", LISTEN_FORM)
    } else {
        ("192.0.2.1:443", ALLOW_FORM)
    };
    string_literals(value, key, example, form)
}

/// The string literals of `key = "…"` or `key = ["…", …]`: each one spanned where it is
/// not a string (`example`: one entry; `form`: the whole key as it should be written).
fn string_literals(value: &Expr, key: &str, example: &str, form: &str) -> syn::Result<Vec<LitStr>> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(vec![s.clone()]),
        Expr::Array(array) => array
            .elems
            .iter()
            .map(|e| match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s.clone()),
                other => Err(syn::Error::new(
                    other.span(),
                    format!("expected a string in `{key}`, like \"{example}\""),
                )),
            })
            .collect(),
        other => Err(syn::Error::new(
            other.span(),
            format!("expected a string or a list of strings: {form}"),
        )),
    }
}

/// The value of option `spec` that `value` names, or an error spanning `value`.
fn option_value(spec: &OptionSpec, value: &Expr) -> syn::Result<&'static OptionValue> {
    let key = spec.key;
    let lit = match value {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    };
    match (spec.syntax, lit) {
        (Syntax::Bool, Some(Lit::Bool(b))) => spec
            .value(if b.value { "true" } else { "false" })
            .ok_or_else(|| syn::Error::new(b.span(), spec.unknown_value(&b.value.to_string()))),
        (Syntax::Bool, Some(Lit::Str(s))) if spec.value(&s.value()).is_some() => {
            Err(syn::Error::new(
                s.span(),
                format!(
                    "expected {} without quotes: {key} = {}",
                    spec.expected(),
                    s.value()
                ),
            ))
        }
        (Syntax::Bool, _) => Err(syn::Error::new(
            value.span(),
            format!("expected {}: {}", spec.expected(), spec.example),
        )),
        (Syntax::Name, Some(Lit::Str(s))) => spec
            .value(&s.value())
            .ok_or_else(|| syn::Error::new(s.span(), spec.unknown_value(&s.value()))),
        (Syntax::Name, _) => Err(syn::Error::new(
            value.span(),
            format!("expected a string for `{key}`: {}", spec.expected()),
        )),
        (Syntax::Names { .. }, _) => unreachable!("a list option is set by `set_names`"),
    }
}

/// Sets the values a [`Syntax::Names`] option names: one string or a list of strings. Each
/// error (an unknown name, with the name it probably means; a name given twice) spans its
/// string literal.
fn set_names(spec: &OptionSpec, value: &Expr, options: &mut Options) -> syn::Result<()> {
    let key = spec.key;
    let literals = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => vec![s.clone()],
        Expr::Array(array) => array
            .elems
            .iter()
            .map(|e| match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s.clone()),
                other => Err(syn::Error::new(
                    other.span(),
                    format!("expected a string in `{key}`: {}", spec.example),
                )),
            })
            .collect::<syn::Result<_>>()?,
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("expected a list of strings for `{key}`: {}", spec.example),
            ))
        }
    };
    let names: Vec<String> = literals.iter().map(LitStr::value).collect();
    spec.set_names(&names, options).map_err(|errors| {
        combine(
            errors
                .into_iter()
                .map(|e| syn::Error::new(literals[e.index].span(), e.message)),
        )
    })
}

/// An endpoint error, spanned at its literal (or, where the compiler supports it, at the
/// offending part inside the literal).
fn endpoint_error(literals: &[LitStr], e: &EndpointError) -> syn::Error {
    let lit = &literals[e.index];
    syn::Error::new(inner_span(lit, e).unwrap_or_else(|| lit.span()), &e.message)
}

/// The span of `e.range` inside `lit`, when the literal is a plain `"…"` string without
/// escapes and the compiler can make sub-spans (not on stable today).
fn inner_span(lit: &LitStr, e: &EndpointError) -> Option<Span> {
    let token = lit.token();
    let raw = token.to_string();
    let body = raw.strip_prefix('"')?.strip_suffix('"')?;
    if body != lit.value() || e.range.is_empty() {
        return None;
    }
    token.subspan(e.range.start + 1..e.range.end + 1)
}

fn combine(errors: impl IntoIterator<Item = syn::Error>) -> syn::Error {
    errors
        .into_iter()
        .reduce(|mut a, b| {
            a.combine(b);
            a
        })
        .expect("at least one error")
}
