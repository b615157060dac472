//! Puts the install call in front of `main`.
//!
//! | item | output |
//! |---|---|
//! | `fn main() [-> T] { body }` | `fn main() [-> T] { enter(policy); { body } }` |
//! | `#[tokio::main] async fn main() [-> T] { body }` (a runtime attribute below ours) | `fn main() [-> T] { enter(policy); #[tokio::main] async fn main() [-> T] { body } main() }` |
//! | `async fn main` with no runtime attribute below ours | error |
//! | any other function | error |
//!
//! In the second form the runtime starts inside the inner function, after the sandbox is in
//! place, so its worker threads are sandboxed from their first instruction. With the runtime
//! attribute *above* ours, the runtime macro has already turned `main` into a plain function
//! that builds the runtime, and the first form applies.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{AttrStyle, Attribute, ItemFn};

/// The expanded function: `install` (a statement) runs first.
pub(crate) fn expand(item: &ItemFn, install: TokenStream) -> syn::Result<TokenStream> {
    check_main(item)?;

    let (outer, inner): (Vec<&Attribute>, Vec<&Attribute>) = item
        .attrs
        .iter()
        .partition(|a| matches!(a.style, AttrStyle::Outer));
    let vis = &item.vis;
    let block = &item.block;

    if item.sig.asyncness.is_none() {
        let sig = &item.sig;
        return Ok(quote! {
            #(#outer)*
            #vis #sig {
                #(#inner)*
                #install
                #block
            }
        });
    }

    // `async fn main` with a runtime attribute below ours (checked by `check_main`): an outer
    // plain `main` installs, then calls the inner function the runtime attribute expands.
    let mut outer_sig = item.sig.clone();
    outer_sig.asyncness = None;
    let inner_sig = &item.sig;
    Ok(quote! {
        #vis #outer_sig {
            #install
            #(#outer)*
            #inner_sig {
                #(#inner)*
                #block
            }
            main()
        }
    })
}

/// Whether `attr` looks like a runtime's entry-point attribute: a path of two or more
/// segments ending in `main` (`#[tokio::main]`, `#[async_std::main]`, `#[actix_web::main]`).
pub(crate) fn is_runtime_attr(attr: &Attribute) -> bool {
    let segments = &attr.path().segments;
    segments.len() >= 2 && segments.last().is_some_and(|s| s.ident == "main")
}

/// The attribute only goes on `fn main`, and an `async fn main` needs a runtime attribute
/// below it.
fn check_main(item: &ItemFn) -> syn::Result<()> {
    let ident = &item.sig.ident;
    if ident != "main" {
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "#[network_sandbox] goes on `fn main`, not on `fn {ident}`: the policy is \
                 installed before the first line of main, before any other code or thread runs"
            ),
        ));
    }
    if let Some(asyncness) = &item.sig.asyncness {
        if !item.attrs.iter().any(is_runtime_attr) {
            return Err(syn::Error::new(
                asyncness.span,
                "`async fn main` needs a runtime: add #[tokio::main] below #[network_sandbox] \
                 (the sandbox is installed before the runtime starts its threads)",
            ));
        }
    }
    Ok(())
}

/// What to emit beside the error when expansion fails: the item unchanged, so the error is
/// the only one. An `async fn main` that no runtime will expand would add rustc's own
/// "`main` function is not allowed to be `async`"; it is kept under another name instead,
/// beside an empty `main`.
pub(crate) fn fallback_item(item: TokenStream) -> TokenStream {
    let Ok(mut f) = syn::parse2::<ItemFn>(item.clone()) else {
        return item;
    };
    if f.sig.ident != "main" || f.sig.asyncness.is_none() || f.attrs.iter().any(is_runtime_attr) {
        return item;
    }
    f.sig.ident = syn::Ident::new("__network_sandbox_async_main", f.sig.ident.span());
    let mut out = quote! {
        #[allow(dead_code)]
    };
    f.to_tokens(&mut out);
    out.extend(quote! {
        fn main() {}
    });
    out
}
