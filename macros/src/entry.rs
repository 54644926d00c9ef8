//! The expansion shared by both attributes: check the function, parse the options, and turn
//! `async fn f() -> T { body }` into `fn f() -> T { ::creche::__private::main(<build the
//! runtime>, async move { body }) }` (`__private::test` for tests): the facade's hidden entry
//! functions run the body as the root of the task tree, and own the ctrl-c handling and the
//! printing of the chaos seed, so that the expansion stays small.
//!
//! On a mistake the output is the `compile_error!`s plus the closest expansion that can be
//! made, so that one mistake gives one error and the body is still checked: the options that
//! were right (see [`options::parse`]), and a function with parameters or generics wrapped in
//! one of the right shape ([`wrap_misshapen`]). Generated code names everything by absolute
//! path (`::creche`, `::core`) and binds no local that the body could see.

use crate::options::{self, ChaosOption, ClockOption, Kind, Options};
use crate::push_error;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Block, Generics, Item, ItemFn, Signature, Visibility};

/// Expands `kind`'s attribute with arguments `args` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(_) => {
            let msg = format!("{} applies only to an `async fn`", kind.attribute());
            let error = syn::Error::new(first_token_after_attributes(&item), msg);
            return with_errors(item, Some(error));
        }
        Err(e) => return with_errors(item, Some(e)),
    };
    let (options, mut errors) = options::parse(kind, args);
    if kind == Kind::Test {
        // A second `#[test]` would register the function twice: an error, and dropped.
        function.attrs.retain(|attr| {
            let redundant = attr.path().is_ident("test");
            if redundant {
                let msg = "`#[test]` is redundant: `#[creche::test]` already marks the function \
                           as a test";
                push_error(&mut errors, syn::Error::new_spanned(attr, msg));
            }
            !redundant
        });
    }
    if function.sig.asyncness.is_none() {
        let msg = "the `async` keyword is missing from the function declaration";
        push_error(
            &mut errors,
            syn::Error::new(function.sig.fn_token.span, msg),
        );
    }
    let expansion = match check_shape(kind, &function.sig) {
        Ok(()) => rewrite(kind, &options, function),
        Err(e) => {
            push_error(&mut errors, e);
            wrap_misshapen(kind, function)
        }
    };
    with_errors(expansion, errors)
}

/// `tokens` followed by a `compile_error!` per error.
fn with_errors(mut tokens: TokenStream, errors: Option<syn::Error>) -> TokenStream {
    if let Some(errors) = errors {
        tokens.extend(errors.into_compile_error());
    }
    tokens
}

/// The span of an item's first token after its attributes and visibility: its keyword.
fn first_token_after_attributes(item: &TokenStream) -> Span {
    let parser = |input: ParseStream<'_>| {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        let span = input.span();
        input.parse::<TokenStream>()?;
        Ok(span)
    };
    parser
        .parse2(item.clone())
        .unwrap_or_else(|_| Span::call_site())
}

/// The signature the attributes accept: no parameters and no generics. All that is wrong,
/// each error on its tokens.
fn check_shape(kind: Kind, sig: &Signature) -> syn::Result<()> {
    let name = &sig.ident;
    let mut errors = None;
    if !sig.generics.params.is_empty() {
        let msg = format!(
            "{} functions cannot be generic: declare it as `async fn {name}()`, without type, \
             lifetime or const parameters",
            kind.attribute()
        );
        push_error(&mut errors, syn::Error::new_spanned(&sig.generics, msg));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        let msg = format!(
            "{} functions cannot have a `where` clause: declare it as `async fn {name}()`",
            kind.attribute()
        );
        push_error(&mut errors, syn::Error::new_spanned(where_clause, msg));
    }
    if !sig.inputs.is_empty() || sig.variadic.is_some() {
        let msg = format!(
            "{} functions take no parameters: declare it as `async fn {name}()`",
            kind.attribute()
        );
        push_error(
            &mut errors,
            syn::Error::new(sig.paren_token.span.join(), msg),
        );
    }
    errors.map_or(Ok(()), Err)
}

/// The synchronous function: same attributes, visibility and signature (minus `async`), the
/// body run by the facade's hidden entry function on a runtime built from `options`.
fn rewrite(kind: Kind, options: &Options, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    sig.asyncness = None;
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
    match &options.chaos {
        Some(ChaosOption::FromEnv(span)) => {
            builder.extend(quote_spanned!(*span=> .chaos(::creche::__private::chaos_seed())));
        }
        Some(ChaosOption::Seed(expr)) => builder.extend(quote!(.chaos(#expr))),
        None => {}
    }
    let test_attr = test_attribute(kind);
    let entry = match kind {
        Kind::Main => quote!(::creche::__private::main),
        Kind::Test => quote!(::creche::__private::test),
    };
    let panic_msg = format!("{} could not build the runtime: {{}}", kind.attribute());
    // The call spans the body's last statement, where rustc then reports a value that does not
    // match the return type (rather than at the attribute).
    let (first, last) = last_statement_spans(&block);
    let runtime = quote_spanned! {first=>
        match #builder.build() {
            ::core::result::Result::Ok(runtime) => runtime,
            ::core::result::Result::Err(error) => ::core::panic!(#panic_msg, error),
        }
    };
    let run = quote_spanned!(last=> #entry(#runtime, async move #block));
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
}

/// The spans of the first and last tokens of `block`'s last statement, or of its braces if it
/// has none.
fn last_statement_spans(block: &Block) -> (Span, Span) {
    let Some(statement) = block.stmts.last() else {
        return (
            block.brace_token.span.open(),
            block.brace_token.span.close(),
        );
    };
    let mut tokens = statement.to_token_stream().into_iter();
    let first = tokens
        .next()
        .map_or_else(Span::call_site, |token| token.span());
    let last = tokens.last().map_or(first, |token| token.span());
    (first, last)
}

/// For a function with parameters or generics: a function of the accepted shape, `fn name()
/// -> T`, holding the original one. rustc then adds no error of its own about the signature
/// (a `main` or a test with parameters), and still checks the body, which sees its
/// parameters.
fn wrap_misshapen(kind: Kind, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let outer = Signature {
        asyncness: None,
        generics: Generics::default(),
        inputs: Punctuated::new(),
        variadic: None,
        ..sig.clone()
    };
    let test_attr = test_attribute(kind);
    quote! {
        #test_attr
        #(#attrs)*
        #vis #outer {
            #[allow(dead_code)]
            #sig #block
            ::core::unreachable!()
        }
    }
}

/// `#[test]` for tests, by a path that no local `test` item can shadow.
fn test_attribute(kind: Kind) -> TokenStream {
    match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
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
            quote! {
                pub async fn main() -> u32 {
                    7
                }
            },
        );
        let expected = quote! {
            pub fn main() -> u32 {
                ::creche::__private::main(
                    match ::creche::Builder::new().build() {
                        ::core::result::Result::Ok(runtime) => runtime,
                        ::core::result::Result::Err(error) => ::core::panic!(
                            "`#[creche::main]` could not build the runtime: {}", error
                        ),
                    },
                    async move { 7 }
                )
            }
        };
        assert_eq!(out, expected.to_string());
    }

    #[test]
    fn test_with_every_option_keeps_the_attributes() {
        let out = expand_to_string(
            Kind::Test,
            quote!(worker_threads = 2, autojump),
            quote! {
                #[should_panic]
                async fn t() {
                    body()
                }
            },
        );
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] # [should_panic] fn t ()"));
        assert!(out.contains(
            ":: creche :: Builder :: new () . worker_threads (2usize) \
             . clock (:: creche :: time :: MockClock :: autojump ()) . build ()"
        ));
        assert!(out.contains(":: creche :: __private :: test ("));
        assert!(out.contains(", async move { body () })"));
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn clock_expression_is_passed_to_the_builder() {
        let out = expand_to_string(
            Kind::Main,
            quote!(clock = make_clock()),
            quote! { async fn main() {} },
        );
        assert!(out.contains(":: creche :: Builder :: new () . clock (make_clock ()) . build ()"));
    }

    #[test]
    fn chaos_passes_a_seed_to_the_builder() {
        let out = expand_to_string(Kind::Test, quote!(chaos), quote! { async fn t() {} });
        assert!(out.contains(
            ":: creche :: Builder :: new () . chaos (:: creche :: __private :: chaos_seed ()) \
             . build ()"
        ));
        let out = expand_to_string(Kind::Test, quote!(chaos = 9), quote! { async fn t() {} });
        assert!(out.contains(":: creche :: Builder :: new () . chaos (9) . build ()"));
    }

    #[test]
    fn missing_async_still_expands() {
        let out = expand_to_string(Kind::Test, quote!(), quote! { fn t() {} });
        assert_eq!(
            errors(&out),
            ["the `async` keyword is missing from the function declaration"]
        );
        assert!(out.contains(", async move { })"));
    }

    #[test]
    fn an_unknown_option_is_left_out_of_the_expansion() {
        let out = expand_to_string(Kind::Test, quote!(workers = 2), quote! { async fn t() {} });
        assert_eq!(errors(&out).len(), 1);
        assert!(out.contains(":: creche :: Builder :: new () . build ()"));
    }

    #[test]
    fn errors_in_options_and_function_are_all_reported() {
        let out = expand_to_string(Kind::Main, quote!(autojump), quote! { fn main() {} });
        let messages = errors(&out);
        assert_eq!(messages.len(), 2);
        assert!(messages[0].starts_with("`autojump` is an option of `#[creche::test]`"));
        assert!(messages[1].starts_with("the `async` keyword is missing"));
    }

    #[test]
    fn parameters() {
        let out = expand_to_string(Kind::Test, quote!(), quote! { async fn t(x: u32) {} });
        assert_eq!(
            errors(&out),
            ["`#[creche::test]` functions take no parameters: declare it as `async fn t()`"]
        );
        let out = expand_to_string(Kind::Main, quote!(), quote! { async fn main(&self) {} });
        assert_eq!(
            errors(&out),
            ["`#[creche::main]` functions take no parameters: declare it as `async fn main()`"]
        );
    }

    #[test]
    fn generics() {
        let out = expand_to_string(Kind::Test, quote!(), quote! { async fn t<T>() {} });
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
            quote! {
                async fn t()
                where
                    u8: Copy,
                {
                }
            },
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
    fn a_misshapen_function_is_wrapped_in_one_of_the_right_shape() {
        let out = expand(
            Kind::Main,
            quote!(worker_threads = 2),
            quote! {
                #[inline]
                pub async fn main<'a>(x: &'a str) -> u8 where u8: Copy { body(x) }
            },
        );
        let messages = errors(&out.to_string());
        assert_eq!(messages.len(), 3, "{messages:?}");
        let expected = quote! {
            #[inline]
            pub fn main() -> u8 {
                #[allow(dead_code)]
                async fn main<'a>(x: &'a str) -> u8 where u8: Copy { body(x) }
                ::core::unreachable!()
            }
        };
        assert!(out.to_string().starts_with(&expected.to_string()), "{out}");
        let out = expand_to_string(Kind::Test, quote!(), quote! { fn t(x: u8) {} });
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] fn t () {"));
        assert_eq!(errors(&out).len(), 2);
    }

    #[test]
    fn a_second_test_attribute_is_an_error_and_dropped() {
        let out = expand_to_string(
            Kind::Test,
            quote!(),
            quote! {
                #[test]
                async fn t() {}
            },
        );
        assert_eq!(
            errors(&out),
            ["`#[test]` is redundant: `#[creche::test]` already marks the function as a test"]
        );
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] fn t ()"));
        // `#[test]` on main is the user's business (it is just an attribute there).
        let out = expand_to_string(
            Kind::Main,
            quote!(),
            quote! {
                #[test]
                async fn main() {}
            },
        );
        assert!(errors(&out).is_empty());
    }

    #[test]
    fn not_a_function() {
        let out = expand(
            Kind::Main,
            quote!(),
            quote! {
                #[derive(Debug)]
                pub struct S;
            },
        );
        let messages = errors(&out.to_string());
        assert_eq!(
            messages,
            ["`#[creche::main]` applies only to an `async fn`"]
        );
        assert!(
            out.to_string()
                .starts_with("# [derive (Debug)] pub struct S ;")
        );
        // The error points at `struct` (see tests/ui/not_a_function.stderr).
    }

    #[test]
    fn an_item_that_does_not_parse_keeps_syns_error() {
        let out = expand_to_string(Kind::Test, quote!(), quote!(async fn));
        assert_eq!(errors(&out).len(), 1);
        assert!(out.starts_with("async fn"));
    }
}
