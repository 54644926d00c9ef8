//! The expansion shared by both attributes: check the function, parse the options, and turn
//! `async fn f() -> T { body }` into `fn f() -> T { <build the runtime>.block_on(async move {
//! body }) }`.
//!
//! On a mistake the output is the `compile_error!`s plus the closest expansion that can be
//! made (the function with the default options), so that one mistake gives one error and the
//! body is still checked. Generated code names everything by absolute path (`::creche`,
//! `::core`) and binds no local that the body could see.

use crate::options::{self, ClockOption, Kind, Options};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::ItemFn;

/// Expands `kind`'s attribute with arguments `args` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let msg = format!("{} applies to an `async fn`", kind.attribute());
            let error = syn::Error::new(Span::call_site(), msg);
            return with_errors(item, Some(error));
        }
    };
    let mut errors = None;
    let options = options::parse(kind, args).unwrap_or_else(|e| {
        push(&mut errors, e);
        Options::default()
    });
    if let Err(e) = check_function(kind, &function) {
        push(&mut errors, e);
    }
    if kind == Kind::Test {
        // A second `#[test]` would register the function twice.
        if let Some(attr) = function.attrs.iter().find(|a| a.path().is_ident("test")) {
            let msg = "`#[test]` is redundant: `#[creche::test]` already marks the function as \
                       a test";
            push(&mut errors, syn::Error::new_spanned(attr, msg));
        }
    }
    function.sig.asyncness = None;
    with_errors(rewrite(kind, &options, function), errors)
}

/// Adds `error` to the errors found so far.
fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

/// `tokens` followed by a `compile_error!` per error.
fn with_errors(mut tokens: TokenStream, errors: Option<syn::Error>) -> TokenStream {
    if let Some(errors) = errors {
        tokens.extend(errors.into_compile_error());
    }
    tokens
}

/// The shape the attributes accept: `async fn name() -> T`, no parameters, no generics.
fn check_function(kind: Kind, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let name = &sig.ident;
    if sig.asyncness.is_none() {
        let msg = "the `async` keyword is missing from the function declaration";
        return Err(syn::Error::new(sig.fn_token.span, msg));
    }
    if !sig.generics.params.is_empty() {
        let msg = format!(
            "{} functions cannot be generic: declare it as `async fn {name}()`, without type, \
             lifetime or const parameters",
            kind.attribute()
        );
        return Err(syn::Error::new_spanned(&sig.generics, msg));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        let msg = format!(
            "{} functions cannot have a `where` clause: declare it as `async fn {name}()`",
            kind.attribute()
        );
        return Err(syn::Error::new_spanned(where_clause, msg));
    }
    if !sig.inputs.is_empty() || sig.variadic.is_some() {
        let msg = format!(
            "{} functions take no parameters: declare it as `async fn {name}()`",
            kind.attribute()
        );
        return Err(syn::Error::new(sig.paren_token.span.join(), msg));
    }
    Ok(())
}

/// The synchronous function: same attributes, visibility and signature (minus `async`), the
/// body run by `block_on` on a runtime built from `options`.
fn rewrite(kind: Kind, options: &Options, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let mut builder = quote!(::creche::Builder::new());
    if let Some((count, span)) = options.worker_threads {
        builder.extend(quote_spanned!(span=> .worker_threads(#count)));
    }
    match &options.clock {
        Some(ClockOption::Autojump(span)) => {
            builder.extend(quote_spanned!(*span=> .clock(::creche::time::MockClock::autojump())));
        }
        Some(ClockOption::Expr(expr)) => builder.extend(quote!(.clock(#expr))),
        None => {}
    }
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    let panic_msg = format!("{} could not build the runtime: {{}}", kind.attribute());
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            match #builder.build() {
                ::core::result::Result::Ok(runtime) => runtime,
                ::core::result::Result::Err(error) => ::core::panic!(#panic_msg, error),
            }
            .block_on(async move #block)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_to_string(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).to_string()
    }

    /// The messages of the `compile_error!`s in an expansion.
    fn errors(expansion: &str) -> Vec<String> {
        expansion
            .split(":: core :: compile_error ! { ")
            .skip(1)
            .map(|rest| {
                let end = rest.find(" }").unwrap();
                rest[..end].trim_matches('"').to_owned()
            })
            .collect()
    }

    #[test]
    fn main_without_options() {
        let out = expand_to_string(
            Kind::Main,
            quote!(),
            quote!(
                pub async fn main() -> u32 {
                    7
                }
            ),
        );
        let expected = quote! {
            pub fn main() -> u32 {
                match ::creche::Builder::new().build() {
                    ::core::result::Result::Ok(runtime) => runtime,
                    ::core::result::Result::Err(error) => ::core::panic!(
                        "`#[creche::main]` could not build the runtime: {}", error
                    ),
                }
                .block_on(async move { 7 })
            }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn test_with_every_option_keeps_the_attributes() {
        let out = expand_to_string(
            Kind::Test,
            quote!(worker_threads = 2, autojump),
            quote!(
                #[should_panic]
                async fn t() {
                    body()
                }
            ),
        );
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] # [should_panic] fn t ()"));
        assert!(out.contains(
            ":: creche :: Builder :: new () . worker_threads (2usize) \
             . clock (:: creche :: time :: MockClock :: autojump ()) . build ()"
        ));
        assert!(out.contains(". block_on (async move { body () })"));
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn clock_expression_is_passed_to_the_builder() {
        let out = expand_to_string(
            Kind::Main,
            quote!(clock = make_clock()),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.contains(":: creche :: Builder :: new () . clock (make_clock ()) . build ()"));
    }

    #[test]
    fn missing_async_still_expands() {
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote!(
                fn t() {}
            ),
        );
        assert_eq!(
            errors(&out),
            ["the `async` keyword is missing from the function declaration"]
        );
        assert!(out.contains(". block_on (async move { })"));
    }

    #[test]
    fn option_errors_fall_back_to_the_defaults() {
        let out = expand_to_string(
            Kind::Test,
            quote!(workers = 2),
            quote!(
                async fn t() {}
            ),
        );
        assert_eq!(errors(&out).len(), 1);
        assert!(out.contains(":: creche :: Builder :: new () . build ()"));
    }

    #[test]
    fn errors_in_options_and_function_are_all_reported() {
        let out = expand_to_string(
            Kind::Main,
            quote!(autojump),
            quote!(
                fn main() {}
            ),
        );
        let errors = errors(&out);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("`autojump` is an option of `#[creche::test]`"));
        assert!(errors[1].starts_with("the `async` keyword is missing"));
    }

    #[test]
    fn parameters() {
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote!(
                async fn t(x: u32) {}
            ),
        );
        assert_eq!(
            errors(&out),
            ["`#[creche::test]` functions take no parameters: declare it as `async fn t()`"]
        );
        let out = expand_to_string(
            Kind::Main,
            quote!(),
            quote!(
                async fn main(&self) {}
            ),
        );
        assert_eq!(
            errors(&out),
            ["`#[creche::main]` functions take no parameters: declare it as `async fn main()`"]
        );
    }

    #[test]
    fn generics() {
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote!(
                async fn t<T>() {}
            ),
        );
        assert_eq!(
            errors(&out),
            [
                "`#[creche::test]` functions cannot be generic: declare it as `async fn t()`, \
                 without type, lifetime or const parameters"
            ]
        );
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote!(
                async fn t()
                where
                    u8: Copy,
                {
                }
            ),
        );
        assert_eq!(
            errors(&out),
            [
                "`#[creche::test]` functions cannot have a `where` clause: declare it as \
                 `async fn t()`"
            ]
        );
    }

    #[test]
    fn a_second_test_attribute_is_an_error() {
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        assert_eq!(
            errors(&out),
            ["`#[test]` is redundant: `#[creche::test]` already marks the function as a test"]
        );
        // `#[test]` on main is the user's business (it is just an attribute there).
        let out = expand_to_string(
            Kind::Main,
            quote!(),
            quote!(
                #[test]
                async fn main() {}
            ),
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn not_a_function() {
        let out = expand_to_string(
            Kind::Main,
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert_eq!(errors(&out), ["`#[creche::main]` applies to an `async fn`"]);
        assert!(out.starts_with("struct S ;"));
    }
}
