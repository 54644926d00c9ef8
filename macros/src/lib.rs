//! creche-macros: `#[creche::main]` and `#[creche::test]` (being written).

use proc_macro::TokenStream;

/// Runs an `async fn main` on a creche runtime (being written).
#[proc_macro_attribute]
pub fn main(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// Runs an `async fn` test on a creche runtime (being written).
#[proc_macro_attribute]
pub fn test(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
