//! The `#[network_sandbox]` attribute. Use it through the `network-sandbox` crate.

use proc_macro::TokenStream;

/// See the `network-sandbox` crate.
#[proc_macro_attribute]
pub fn network_sandbox(args: TokenStream, item: TokenStream) -> TokenStream {
    let _ = args;
    item
}
