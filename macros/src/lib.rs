//! The `#[network_sandbox]` attribute. Use it through the `network-sandbox` crate, which
//! documents it.
//!
//! The pipeline: `attr` (private) parses the arguments into a checked policy, the
//! `network-sandbox-build` compiler turns it into seccomp programs and emits the policy as a
//! block expression, and `expand` puts `::network_sandbox::__private::enter(<policy>);`
//! in front of `main`. Any error becomes one `compile_error!` next to the user's function,
//! re-emitted unchanged, so that the error is the only one rustc shows.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attr;
mod expand;

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;

/// Restricts the program's network access to the endpoints in `allow`, from the first line
/// of `main` on: that process, its threads and everything it forks or execs.
///
/// ```ignore
/// use network_sandbox::network_sandbox;
///
/// #[network_sandbox(allow = ["192.0.2.1:443", "udp://[2001:db8::53]:53"])]
/// fn main() { /* … */ }
/// ```
///
/// | key | value | default |
/// |---|---|---|
/// | `allow` | an endpoint string or a list of them; `[]` = no network | required |
/// | `audit` | `true`: report connections outside the list but allow them | `false` |
/// | `fallback` | `"refuse"`, `"landlock-ports"`, `"deny-all"`: what to do when the exact check cannot run on this kernel | `"refuse"` |
/// | `report` | `"stderr"`, `"off"` | `"stderr"` |
/// | `deny_errno` | `"EACCES"`, `"EPERM"`, `"ECONNREFUSED"`, `"ENETUNREACH"`: the errno of a refused network operation | `"EACCES"` |
/// | `syscalls` | a list of system call groups (`"@system-service"`) and calls (`"getrandom"`): only these are allowed | every call |
/// | `deny_syscalls` | groups and calls refused on top (`["@mount", "@swap"]`) | none |
/// | `syscall_refusal` | `"EPERM"`, `"ENOSYS"`, `"kill"`: what a call outside the profile gets | `"EPERM"` |
/// | `from_build` | no value, alone: use the policy `build.rs` compiled with `network_sandbox_build::compile_file` | — |
///
/// An endpoint is `[tcp://|udp://]HOST:PORTS`: HOST an IPv4 address (`192.0.2.1`), an IPv4
/// network (`10.0.0.0/8`), an IPv6 address or network in brackets (`[::1]`,
/// `[2001:db8::/32]`); PORTS a port (`443`) or an inclusive range (`8000-8080`). Hostnames
/// are not supported yet.
///
/// The policy is checked and compiled to seccomp-BPF when the crate is built; a mistake is a
/// compile error on the offending literal or key. The attribute goes on `fn main` (returning
/// `()` or a `Result`). For an `async fn main`, put the runtime's attribute below this one,
/// `#[network_sandbox(…)] #[tokio::main] async fn main()`, or above it: either way the
/// sandbox is installed before the runtime starts its threads.
#[proc_macro_attribute]
pub fn network_sandbox(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand_attr(args.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut out = expand::fallback_item(item);
            out.extend(error.into_compile_error());
            out.into()
        }
    }
}

fn expand_attr(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let item: syn::ItemFn = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[network_sandbox] goes on `fn main`: the policy is installed before the first \
             line of main",
        )
    })?;
    let policy = match attr::parse(args)? {
        attr::Args::Inline(policy) => {
            let compiled = network_sandbox_build::compile(&policy).map_err(|e| {
                syn::Error::new(
                    Span::call_site(),
                    format!("network-sandbox could not compile this policy: {e}"),
                )
            })?;
            network_sandbox_build::emit::policy_expr(&compiled)
        }
        attr::Args::FromBuild(span) => from_build(span)?,
    };
    expand::expand(
        &item,
        quote! { ::network_sandbox::__private::enter(#policy); },
    )
}

/// `include!` of the file `network_sandbox_build::compile_file` wrote in `build.rs`, after
/// checking that there is one (a missing `build.rs` would otherwise show as a bare
/// "`OUT_DIR` not defined").
fn from_build(span: Span) -> syn::Result<proc_macro2::TokenStream> {
    let file = network_sandbox_build::file::OUTPUT_FILE;
    let hint = "add a build.rs with `fn main() { network_sandbox_build::compile_file(\"network-policy.toml\"); }` \
                and network-sandbox-build in [build-dependencies]";
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return Err(syn::Error::new(
            span,
            format!("`from_build` needs a policy compiled by build.rs, but this crate has no build script: {hint}"),
        ));
    };
    if !std::path::Path::new(&out_dir).join(file).is_file() {
        return Err(syn::Error::new(
            span,
            format!("`from_build` needs $OUT_DIR/{file}, which build.rs did not write: {hint}"),
        ));
    }
    let path = format!("/{file}");
    Ok(quote! {
        ::core::include!(::core::concat!(::core::env!("OUT_DIR"), #path))
    })
}
