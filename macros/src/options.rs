//! The arguments of the attributes: `autojump`, `worker_threads = N` and `clock = <expr>`,
//! comma-separated in any order, each at most once.
//!
//! Parsing is pure syn over `proc_macro2` tokens, so the unit tests below run it directly. Every
//! mistake is a [`syn::Error`] spanned on the token at fault and saying what is expected.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Token};

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
            Kind::Test => "`autojump`, `worker_threads = N` and `clock = <expr>`",
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
}

/// Where the runtime's clock comes from.
pub(crate) enum ClockOption {
    /// `autojump` (tests only): a `MockClock::autojump()`; the span of the keyword.
    Autojump(Span),
    /// `clock = <expr>`: the user's expression, evaluated once before the runtime starts.
    Expr(Box<Expr>),
}

/// Parses the arguments of `kind`'s attribute.
///
/// # Errors
///
/// A token that is not an option name, an unknown option or one `kind` does not take, an
/// option given twice, a missing or malformed value, or `autojump` together with `clock`.
pub(crate) fn parse(kind: Kind, args: TokenStream) -> syn::Result<Options> {
    (|input: ParseStream<'_>| parse_options(kind, input)).parse2(args)
}

/// What follows an option's name: `= <expr>`, a bare `=`, or nothing.
type Value = Option<(Token![=], Option<Expr>)>;

fn parse_options(kind: Kind, input: ParseStream<'_>) -> syn::Result<Options> {
    let mut worker_threads = None;
    let mut clock = None;
    let mut autojump: Option<Ident> = None;
    while !input.is_empty() {
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
        match name.unraw().to_string().as_str() {
            "worker_threads" => {
                check_once(&name, worker_threads.is_some())?;
                worker_threads = Some(worker_threads_value(&name, value)?);
            }
            "clock" => {
                check_once(&name, clock.is_some())?;
                clock = Some(clock_value(&name, value)?);
            }
            "autojump" if kind == Kind::Test => {
                check_once(&name, autojump.is_some())?;
                if let Some((eq, expr)) = value {
                    let mut tokens = eq.into_token_stream();
                    expr.to_tokens(&mut tokens); // nothing after a bare `=`
                    let msg = "`autojump` takes no value: write `#[creche::test(autojump)]`";
                    return Err(syn::Error::new_spanned(tokens, msg));
                }
                autojump = Some(name);
            }
            "autojump" => {
                let msg = "`autojump` is an option of `#[creche::test]`, not of \
                           `#[creche::main]`: to run main on virtual time, give it the clock, \
                           e.g. `clock = MockClock::autojump()`";
                return Err(syn::Error::new(name.span(), msg));
            }
            other => {
                let msg = format!(
                    "unknown option `{other}`: {} takes {}",
                    kind.attribute(),
                    kind.valid_options()
                );
                return Err(syn::Error::new(name.span(), msg));
            }
        }
    }
    let clock = match (autojump, clock) {
        (Some(autojump), Some(_)) => {
            let msg = "`autojump` cannot be combined with `clock`: put the autojump on the \
                       clock instead, e.g. `clock = MockClock::autojump()`";
            return Err(syn::Error::new(autojump.span(), msg));
        }
        (Some(autojump), None) => Some(ClockOption::Autojump(autojump.span())),
        (None, clock) => clock,
    };
    Ok(Options {
        worker_threads,
        clock,
    })
}

/// Fails on the second occurrence of `name`.
fn check_once(name: &Ident, seen: bool) -> syn::Result<()> {
    if seen {
        let msg = format!("duplicate option `{name}`: give each option at most once");
        return Err(syn::Error::new(name.span(), msg));
    }
    Ok(())
}

const WORKER_THREADS_EXPECTED: &str =
    "expected a positive integer literal, such as `worker_threads = 4`";

/// The value of `worker_threads`: an integer literal of at least 1, unsuffixed or `usize`.
fn worker_threads_value(name: &Ident, value: Value) -> syn::Result<(usize, Span)> {
    let Some((_, Some(expr))) = value else {
        let msg = format!("`worker_threads` needs a value: {WORKER_THREADS_EXPECTED}");
        return Err(syn::Error::new(name.span(), msg));
    };
    let lit = match &expr {
        Expr::Lit(lit) if lit.attrs.is_empty() => match &lit.lit {
            Lit::Int(int) if matches!(int.suffix(), "" | "usize") => Some(int),
            _ => None,
        },
        _ => None,
    };
    let parsed = lit.and_then(|int| int.base10_parse::<usize>().ok());
    match parsed {
        Some(0) => {
            let msg = format!(
                "`worker_threads` must be at least 1: a runtime needs a worker; \
                 {WORKER_THREADS_EXPECTED}"
            );
            Err(syn::Error::new_spanned(expr, msg))
        }
        Some(count) => Ok((count, expr_span(&expr))),
        None => {
            let msg = format!(
                "`worker_threads` is not a positive integer literal: {WORKER_THREADS_EXPECTED}"
            );
            Err(syn::Error::new_spanned(expr, msg))
        }
    }
}

/// The value of `clock`: any expression (its type is checked by rustc against `Clock`).
fn clock_value(name: &Ident, value: Value) -> syn::Result<ClockOption> {
    match value {
        Some((_, Some(expr))) => Ok(ClockOption::Expr(Box::new(expr))),
        _ => {
            let msg = "`clock` needs a value: expected an expression that evaluates to a \
                       `creche::time::Clock`, such as `clock = MockClock::new()`";
            Err(syn::Error::new(name.span(), msg))
        }
    }
}

/// The span of a literal expression (its only token).
fn expr_span(expr: &Expr) -> Span {
    expr.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok(kind: Kind, args: TokenStream) -> Options {
        match parse(kind, args) {
            Ok(options) => options,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(kind: Kind, args: TokenStream) -> String {
        match parse(kind, args) {
            Ok(_) => panic!("parsed, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn clock_tokens(options: &Options) -> Option<String> {
        match options.clock.as_ref()? {
            ClockOption::Autojump(_) => Some("autojump".to_owned()),
            ClockOption::Expr(expr) => Some(expr.to_token_stream().to_string()),
        }
    }

    #[test]
    fn empty() {
        for kind in [Kind::Main, Kind::Test] {
            let options = ok(kind, quote!());
            assert!(options.worker_threads.is_none());
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
            let options = ok(kind, quote!(worker_threads = 3));
            assert_eq!(options.worker_threads.map(|(n, _)| n), Some(3));
        }
        let options = ok(Kind::Test, quote!(worker_threads = 2usize));
        assert_eq!(options.worker_threads.map(|(n, _)| n), Some(2));
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
            quote!(
                clock = {
                    let c = make();
                    c
                }
            ),
        );
        assert_eq!(
            clock_tokens(&options).as_deref(),
            Some("{ let c = make () ; c }")
        );
    }

    #[test]
    fn any_order_and_trailing_comma() {
        let options = ok(Kind::Test, quote!(autojump, worker_threads = 2,));
        assert_eq!(options.worker_threads.map(|(n, _)| n), Some(2));
        assert_eq!(clock_tokens(&options).as_deref(), Some("autojump"));
        let options = ok(Kind::Test, quote!(clock = c(), worker_threads = 4));
        assert_eq!(options.worker_threads.map(|(n, _)| n), Some(4));
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
            "unknown option `workers`: `#[creche::test]` takes `autojump`, \
             `worker_threads = N` and `clock = <expr>`"
        );
        assert_eq!(
            err(Kind::Main, quote!(flavor)),
            "unknown option `flavor`: `#[creche::main]` takes `worker_threads = N` and \
             `clock = <expr>`"
        );
        // A keyword is an unknown option too, not a parse error.
        assert!(err(Kind::Test, quote!(crate = "x")).starts_with("unknown option `crate`"));
    }

    #[test]
    fn not_an_option_name() {
        assert_eq!(
            err(Kind::Test, quote!(3)),
            "expected an option: `#[creche::test]` takes `autojump`, `worker_threads = N` \
             and `clock = <expr>`"
        );
    }

    #[test]
    fn missing_comma() {
        assert_eq!(
            err(Kind::Test, quote!(worker_threads = 2 autojump)),
            "expected `,` between options"
        );
    }

    #[test]
    fn duplicates() {
        for args in [
            quote!(worker_threads = 1, worker_threads = 2),
            quote!(autojump, autojump),
            quote!(clock = a(), clock = b()),
        ] {
            assert!(err(Kind::Test, args).starts_with("duplicate option `"));
        }
        assert_eq!(
            err(Kind::Main, quote!(worker_threads = 1, worker_threads = 1)),
            "duplicate option `worker_threads`: give each option at most once"
        );
    }

    #[test]
    fn worker_threads_must_be_a_positive_integer_literal() {
        assert_eq!(
            err(Kind::Test, quote!(worker_threads = 0)),
            "`worker_threads` must be at least 1: a runtime needs a worker; expected a \
             positive integer literal, such as `worker_threads = 4`"
        );
        for args in [
            quote!(worker_threads = "2"),
            quote!(worker_threads = -1),
            quote!(worker_threads = N),
            quote!(worker_threads = 2u8),
            quote!(worker_threads = 1.5),
            quote!(worker_threads = 99999999999999999999999999),
        ] {
            assert_eq!(
                err(Kind::Test, args),
                "`worker_threads` is not a positive integer literal: expected a positive \
                 integer literal, such as `worker_threads = 4`"
            );
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
        assert!(err(Kind::Test, quote!(clock)).starts_with("`clock` needs a value"));
    }

    #[test]
    fn autojump_takes_no_value() {
        assert_eq!(
            err(Kind::Test, quote!(autojump = true)),
            "`autojump` takes no value: write `#[creche::test(autojump)]`"
        );
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
        assert!(err(Kind::Main, quote!(autojump))
            .starts_with("`autojump` is an option of `#[creche::test]`, not of `#[creche::main]`"));
    }

    #[test]
    fn an_equals_sign_without_a_value() {
        assert!(err(Kind::Test, quote!(clock =)).starts_with("`clock` needs a value"));
        assert!(err(Kind::Test, quote!(worker_threads =, autojump))
            .starts_with("`worker_threads` needs a value"));
        assert!(err(Kind::Test, quote!(autojump =)).starts_with("`autojump` takes no value"));
    }

    #[test]
    fn a_bad_expression_is_a_parse_error() {
        assert_eq!(err(Kind::Test, quote!(clock = +)), "expected an expression");
    }
}
