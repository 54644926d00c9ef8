//! The arguments of the attributes: `autojump`, `chaos` (or `chaos = <seed>`),
//! `worker_threads = N` and `clock = <expr>`, comma-separated in any order, each at most once.
//!
//! Parsing is pure syn over `proc_macro2` tokens, so the unit tests below run it directly. Every
//! mistake is a [`syn::Error`] spanned on the token at fault and saying what is expected.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, Token};

use crate::push_error;

/// Which attribute is being expanded: they take different options and name themselves in
/// their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[creche::main]`.
    Main,
    /// `#[creche::test]`.
    Test,
}

impl Kind {
    /// The attribute as users write it, in backticks for messages.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "`#[creche::main]`",
            Kind::Test => "`#[creche::test]`",
        }
    }

    /// The options this attribute takes, for messages.
    fn valid_options(self) -> &'static str {
        match self {
            Kind::Main => "`worker_threads = N` and `clock = <expr>`",
            Kind::Test => {
                "`autojump`, `chaos`, `chaos = <seed>`, `worker_threads = N` and `clock = <expr>`"
            }
        }
    }
}

/// The checked options of one attribute.
#[derive(Default)]
pub(crate) struct Options {
    /// `worker_threads = N`: `N` (at least 1) and the span of the literal.
    pub(crate) worker_threads: Option<(usize, Span)>,
    /// `clock = <expr>` or `autojump`.
    pub(crate) clock: Option<ClockOption>,
    /// `chaos` or `chaos = <seed>` (tests only).
    pub(crate) chaos: Option<ChaosOption>,
}

/// Where the seed of chaos mode comes from.
pub(crate) enum ChaosOption {
    /// `chaos`: `CRECHE_SEED`, or a fresh random seed; the span of the keyword.
    FromEnv(Span),
    /// `chaos = <seed>`: the user's expression, a `u64`.
    Seed(Box<Expr>),
}

/// Where the runtime's clock comes from.
pub(crate) enum ClockOption {
    /// `autojump` (tests only): a `MockClock::autojump()`; the span of the keyword.
    Autojump(Span),
    /// `clock = <expr>`: the user's expression, evaluated once before the runtime starts.
    Expr(Box<Expr>),
}

/// Parses the arguments of `kind`'s attribute: the options that are right, and an error per
/// mistake.
///
/// A mistake in one option does not stop the parsing of the others, so that all of them are
/// reported at once and the fallback expansion keeps what was right (a `clock` expression
/// stays in use, for example, and so do its imports). Only a syntax error (a token that is not
/// an option name, a missing comma, an expression that does not parse) stops it; the options
/// are then the defaults.
pub(crate) fn parse(kind: Kind, args: TokenStream) -> (Options, Option<syn::Error>) {
    let mut errors = None;
    let parsed = (|input: ParseStream<'_>| parse_options(kind, input, &mut errors)).parse2(args);
    match parsed {
        Ok(options) => (options, errors),
        Err(e) => {
            push_error(&mut errors, e);
            (Options::default(), errors)
        }
    }
}

/// What follows an option's name: `= <expr>`, a bare `=`, or nothing.
type Value = Option<(Token![=], Option<Expr>)>;

fn parse_options(
    kind: Kind,
    input: ParseStream<'_>,
    errors: &mut Option<syn::Error>,
) -> syn::Result<Options> {
    let mut options = Options::default();
    let mut autojump: Option<Ident> = None;
    let mut clock_expr = None;
    while !input.is_empty() {
        let (name, value) = parse_one(kind, input)?;
        let checked = match name.unraw().to_string().as_str() {
            "worker_threads" => check_once(&name, options.worker_threads.is_some())
                .and_then(|()| worker_threads_value(&name, value))
                .map(|count| options.worker_threads = Some(count)),
            "clock" => check_once(&name, clock_expr.is_some())
                .and_then(|()| clock_value(&name, value))
                .map(|expr| clock_expr = Some(expr)),
            "autojump" if kind == Kind::Test => {
                check_once(&name, autojump.is_some()).and_then(|()| {
                    // An error with a value, but the fallback expansion still autojumps.
                    autojump = Some(name.clone());
                    autojump_has_no_value(value)
                })
            }
            "chaos" if kind == Kind::Test => check_once(&name, options.chaos.is_some()).map(|()| {
                options.chaos = Some(match value {
                    Some((_, Some(expr))) => ChaosOption::Seed(Box::new(expr)),
                    _ => ChaosOption::FromEnv(name.span()),
                })
            }),
            "autojump" => {
                let msg = "`autojump` is an option of `#[creche::test]`, not of \
                           `#[creche::main]`: to run main on virtual time, give it the clock, \
                           e.g. `clock = MockClock::autojump()`";
                Err(syn::Error::new(name.span(), msg))
            }
            other => {
                let msg = format!(
                    "unknown option `{other}`: {} takes {}",
                    kind.attribute(),
                    kind.valid_options()
                );
                Err(syn::Error::new(name.span(), msg))
            }
        };
        if let Err(e) = checked {
            push_error(errors, e);
        }
    }
    options.clock = match (autojump, clock_expr) {
        (Some(autojump), Some(expr)) => {
            let msg = "`autojump` cannot be combined with `clock`: put the autojump on the \
                       clock instead, e.g. `clock = MockClock::autojump()`";
            push_error(errors, syn::Error::new(autojump.span(), msg));
            Some(ClockOption::Expr(expr))
        }
        (Some(autojump), None) => Some(ClockOption::Autojump(autojump.span())),
        (None, expr) => expr.map(ClockOption::Expr),
    };
    Ok(options)
}

/// One option, `name`, `name =` or `name = <expr>`, and the comma after it if any.
fn parse_one(kind: Kind, input: ParseStream<'_>) -> syn::Result<(Ident, Value)> {
    let name = input.call(Ident::parse_any).map_err(|e| {
        let msg = format!(
            "expected an option: {} takes {}",
            kind.attribute(),
            kind.valid_options()
        );
        syn::Error::new(e.span(), msg)
    })?;
    let value = if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        let expr = match input.is_empty() || input.peek(Token![,]) {
            true => None,
            false => Some(input.parse::<Expr>()?),
        };
        Some((eq, expr))
    } else {
        None
    };
    if !input.is_empty() {
        input
            .parse::<Token![,]>()
            .map_err(|e| syn::Error::new(e.span(), "expected `,` between options"))?;
    }
    Ok((name, value))
}

/// Fails on the second occurrence of `name`.
fn check_once(name: &Ident, seen: bool) -> syn::Result<()> {
    if seen {
        let msg = format!("duplicate option `{name}`: give each option at most once");
        return Err(syn::Error::new(name.span(), msg));
    }
    Ok(())
}

/// `autojump` is a flag: `autojump = <anything>` is an error on the `= <anything>`.
fn autojump_has_no_value(value: Value) -> syn::Result<()> {
    match value {
        None => Ok(()),
        Some((eq, expr)) => {
            let mut tokens = eq.into_token_stream();
            expr.to_tokens(&mut tokens); // nothing after a bare `=`
            let msg = "`autojump` takes no value: write `#[creche::test(autojump)]`";
            Err(syn::Error::new_spanned(tokens, msg))
        }
    }
}

const WORKER_THREADS_EXPECTED: &str =
    "expected a positive integer literal, such as `worker_threads = 4`";

/// The value of `worker_threads`: an integer literal of at least 1, unsuffixed or `usize`.
fn worker_threads_value(name: &Ident, value: Value) -> syn::Result<(usize, Span)> {
    let Some((_, Some(expr))) = value else {
        let msg = format!("`worker_threads` needs a value: {WORKER_THREADS_EXPECTED}");
        return Err(syn::Error::new(name.span(), msg));
    };
    let int = match &expr {
        Expr::Lit(lit) if lit.attrs.is_empty() => match &lit.lit {
            Lit::Int(int) => Some(int),
            _ => None,
        },
        _ => None,
    };
    let msg = match int.map(|int| (int.suffix(), int.base10_parse::<usize>())) {
        Some(("" | "usize", Ok(0))) => format!(
            "`worker_threads` must be at least 1, as a runtime needs a worker thread: \
             {WORKER_THREADS_EXPECTED}"
        ),
        Some(("" | "usize", Ok(count))) => return Ok((count, expr.span())),
        Some(("" | "usize", Err(_))) => {
            format!("`worker_threads` does not fit a `usize`: {WORKER_THREADS_EXPECTED}")
        }
        Some((suffix, _)) => {
            format!("`worker_threads` is a `usize`, not a `{suffix}`: {WORKER_THREADS_EXPECTED}")
        }
        None => format!("`worker_threads` must be an integer literal: {WORKER_THREADS_EXPECTED}"),
    };
    Err(syn::Error::new_spanned(expr, msg))
}

/// The value of `clock`: any expression (its type is checked by rustc against `Clock`).
fn clock_value(name: &Ident, value: Value) -> syn::Result<Box<Expr>> {
    match value {
        Some((_, Some(expr))) => Ok(Box::new(expr)),
        _ => {
            let msg = "`clock` needs a value: expected an expression that evaluates to a \
                       `creche::time::Clock`, such as `clock = MockClock::new()`";
            Err(syn::Error::new(name.span(), msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The options of arguments that must parse without error.
    fn ok(kind: Kind, args: TokenStream) -> Options {
        match parse(kind, args) {
            (options, None) => options,
            (_, Some(e)) => panic!("unexpected error: {e}"),
        }
    }

    /// The messages of arguments that must fail, and the options kept.
    fn errors(kind: Kind, args: TokenStream) -> (Vec<String>, Options) {
        match parse(kind, args) {
            (_, None) => panic!("parsed, expected an error"),
            (options, Some(e)) => (e.into_iter().map(|e| e.to_string()).collect(), options),
        }
    }

    /// The one message of arguments that must fail with one error.
    fn err(kind: Kind, args: TokenStream) -> String {
        let (mut messages, _) = errors(kind, args);
        assert_eq!(messages.len(), 1, "{messages:?}");
        messages.remove(0)
    }

    fn clock_tokens(options: &Options) -> Option<String> {
        match options.clock.as_ref()? {
            ClockOption::Autojump(_) => Some("autojump".to_owned()),
            ClockOption::Expr(expr) => Some(expr.to_token_stream().to_string()),
        }
    }

    fn workers(options: &Options) -> Option<usize> {
        options.worker_threads.map(|(count, _)| count)
    }

    #[test]
    fn empty() {
        for kind in [Kind::Main, Kind::Test] {
            let options = ok(kind, quote!());
            assert_eq!(workers(&options), None);
            assert!(options.clock.is_none());
        }
    }

    #[test]
    fn autojump() {
        let options = ok(Kind::Test, quote!(autojump));
        assert_eq!(clock_tokens(&options).as_deref(), Some("autojump"));
    }

    #[test]
    fn worker_threads() {
        for kind in [Kind::Main, Kind::Test] {
            assert_eq!(workers(&ok(kind, quote!(worker_threads = 3))), Some(3));
        }
        assert_eq!(
            workers(&ok(Kind::Test, quote!(worker_threads = 2usize))),
            Some(2)
        );
        assert_eq!(
            workers(&ok(Kind::Test, quote!(worker_threads = 0x10))),
            Some(16)
        );
    }

    #[test]
    fn clock_expression() {
        let options = ok(Kind::Main, quote!(clock = MockClock::new()));
        assert_eq!(
            clock_tokens(&options).as_deref(),
            Some("MockClock :: new ()")
        );
        let options = ok(
            Kind::Test,
            quote! {
                clock = {
                    let c = make();
                    c
                }
            },
        );
        assert_eq!(
            clock_tokens(&options).as_deref(),
            Some("{ let c = make () ; c }")
        );
    }

    #[test]
    fn any_order_and_trailing_comma() {
        let options = ok(Kind::Test, quote!(autojump, worker_threads = 2,));
        assert_eq!(workers(&options), Some(2));
        assert_eq!(clock_tokens(&options).as_deref(), Some("autojump"));
        let options = ok(Kind::Test, quote!(clock = c(), worker_threads = 4));
        assert_eq!(workers(&options), Some(4));
        assert_eq!(clock_tokens(&options).as_deref(), Some("c ()"));
    }

    #[test]
    fn raw_identifiers_are_the_same_options() {
        let options = ok(Kind::Test, quote!(r#autojump));
        assert_eq!(clock_tokens(&options).as_deref(), Some("autojump"));
    }

    #[test]
    fn unknown_option_names_it_and_lists_the_valid_ones() {
        assert_eq!(
            err(Kind::Test, quote!(workers = 2)),
            "unknown option `workers`: `#[creche::test]` takes `autojump`, `chaos`, \
             `chaos = <seed>`, `worker_threads = N` and `clock = <expr>`"
        );
        assert!(err(Kind::Main, quote!(chaos)).starts_with("unknown option `chaos`"));
        assert_eq!(
            err(Kind::Main, quote!(flavor)),
            "unknown option `flavor`: `#[creche::main]` takes `worker_threads = N` and \
             `clock = <expr>`"
        );
        // A keyword is an unknown option too, not a parse error.
        assert!(err(Kind::Test, quote!(crate = "x")).starts_with("unknown option `crate`"));
    }

    #[test]
    fn every_mistake_is_reported_and_the_right_options_kept() {
        let (messages, options) = errors(
            Kind::Test,
            quote! {
                workers = 2,
                worker_threads = 0,
                clock = c(),
                autojump,
                worker_threads = 3
            },
        );
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("unknown option `workers`"));
        assert!(messages[1].starts_with("`worker_threads` must be at least 1"));
        assert!(messages[2].starts_with("`autojump` cannot be combined with `clock`"));
        assert_eq!(workers(&options), Some(3));
        assert_eq!(clock_tokens(&options).as_deref(), Some("c ()"));
    }

    #[test]
    fn a_syntax_error_stops_parsing_with_the_defaults() {
        let (messages, options) = errors(Kind::Test, quote!(workers, worker_threads = 2 autojump));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("unknown option `workers`"));
        assert_eq!(messages[1], "expected `,` between options");
        assert_eq!(workers(&options), None);
    }

    #[test]
    fn not_an_option_name() {
        assert_eq!(
            err(Kind::Test, quote!(3)),
            "expected an option: `#[creche::test]` takes `autojump`, `chaos`, \
             `chaos = <seed>`, `worker_threads = N` and `clock = <expr>`"
        );
    }

    #[test]
    fn chaos_with_and_without_a_seed() {
        let options = ok(Kind::Test, quote!(chaos, worker_threads = 2));
        assert!(matches!(options.chaos, Some(ChaosOption::FromEnv(_))));
        let options = ok(Kind::Test, quote!(chaos = 17));
        match options.chaos {
            Some(ChaosOption::Seed(expr)) => assert_eq!(expr.to_token_stream().to_string(), "17"),
            _ => panic!("expected a seed"),
        }
        assert_eq!(
            err(Kind::Test, quote!(chaos, chaos = 1)),
            "duplicate option `chaos`: give each option at most once"
        );
    }

    #[test]
    fn duplicates_keep_the_first() {
        let (messages, options) = errors(
            Kind::Test,
            quote! {
                worker_threads = 1,
                worker_threads = 2,
                clock = a(),
                clock = b()
            },
        );
        assert_eq!(
            messages,
            [
                "duplicate option `worker_threads`: give each option at most once",
                "duplicate option `clock`: give each option at most once"
            ]
        );
        assert_eq!(workers(&options), Some(1));
        assert_eq!(clock_tokens(&options).as_deref(), Some("a ()"));
        assert_eq!(
            err(Kind::Test, quote!(autojump, autojump)),
            "duplicate option `autojump`: give each option at most once"
        );
    }

    #[test]
    fn worker_threads_must_be_a_positive_integer_literal() {
        let expected = "expected a positive integer literal, such as `worker_threads = 4`";
        let cases = [
            (
                quote!(worker_threads = 0),
                "`worker_threads` must be at least 1, as a runtime needs a worker thread",
            ),
            (
                quote!(worker_threads = 0usize),
                "`worker_threads` must be at least 1, as a runtime needs a worker thread",
            ),
            (
                quote!(worker_threads = "2"),
                "`worker_threads` must be an integer literal",
            ),
            (
                quote!(worker_threads = -1),
                "`worker_threads` must be an integer literal",
            ),
            (
                quote!(worker_threads = N),
                "`worker_threads` must be an integer literal",
            ),
            (
                quote!(worker_threads = 1.5),
                "`worker_threads` must be an integer literal",
            ),
            (
                quote!(worker_threads = 2u8),
                "`worker_threads` is a `usize`, not a `u8`",
            ),
            (
                quote!(worker_threads = 99999999999999999999999999),
                "`worker_threads` does not fit a `usize`",
            ),
        ];
        for (args, what) in cases {
            assert_eq!(err(Kind::Test, args), format!("{what}: {expected}"));
        }
    }

    #[test]
    fn worker_threads_needs_a_value() {
        assert_eq!(
            err(Kind::Main, quote!(worker_threads)),
            "`worker_threads` needs a value: expected a positive integer literal, such as \
             `worker_threads = 4`"
        );
    }

    #[test]
    fn clock_needs_a_value() {
        assert_eq!(
            err(Kind::Test, quote!(clock)),
            "`clock` needs a value: expected an expression that evaluates to a \
             `creche::time::Clock`, such as `clock = MockClock::new()`"
        );
    }

    #[test]
    fn an_equals_sign_without_a_value() {
        assert!(err(Kind::Test, quote!(clock =)).starts_with("`clock` needs a value"));
        assert!(
            err(Kind::Test, quote!(worker_threads =, autojump))
                .starts_with("`worker_threads` needs a value")
        );
        assert!(err(Kind::Test, quote!(autojump =)).starts_with("`autojump` takes no value"));
    }

    #[test]
    fn autojump_takes_no_value_but_stays_on() {
        let (messages, options) = errors(Kind::Test, quote!(autojump = true));
        assert_eq!(
            messages,
            ["`autojump` takes no value: write `#[creche::test(autojump)]`"]
        );
        assert_eq!(clock_tokens(&options).as_deref(), Some("autojump"));
    }

    #[test]
    fn autojump_and_clock_conflict_in_either_order() {
        let msg = "`autojump` cannot be combined with `clock`: put the autojump on the clock \
                   instead, e.g. `clock = MockClock::autojump()`";
        assert_eq!(err(Kind::Test, quote!(autojump, clock = c())), msg);
        assert_eq!(err(Kind::Test, quote!(clock = c(), autojump)), msg);
    }

    #[test]
    fn autojump_is_a_test_option() {
        assert_eq!(
            err(Kind::Main, quote!(autojump)),
            "`autojump` is an option of `#[creche::test]`, not of `#[creche::main]`: to run \
             main on virtual time, give it the clock, e.g. `clock = MockClock::autojump()`"
        );
    }

    #[test]
    fn a_bad_expression_is_a_parse_error() {
        assert_eq!(err(Kind::Test, quote!(clock = +)), "expected an expression");
    }
}
