//! The segment language's grammar: text → a syntax tree with byte spans, nothing more.
//! Names and types are checked afterwards (`check.rs`), so a misspelt field and a
//! misplaced parenthesis get different, precise answers.
//!
//! ```text
//! expression := or
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | comparison
//! comparison := operand [ op operand | ["not"] "in" "(" operand ("," operand)* ")" ]
//! op         := ">=" | "<=" | "!=" | "=" | ">" | "<"
//! operand    := "(" expression ")" | date | duration | number | string
//!             | name "(" [operand ("," operand)*] ")" | name ("." name)*
//! date       := YYYY-MM-DD            duration := digits ("d" | "w" | "m" | "y")
//! number     := ["-"] digits ["." digits]      string := '"' … '"' | "'" … "'"
//! ```
//!
//! Keywords (`and`, `or`, `not`, `in`, `true`, `false`) are lower case and reserved.

use std::ops::Range;
use winnow::ascii::{digit1, multispace0};
use winnow::combinator::{
    alt, cut_err, delimited, eof, not, opt, peek, preceded, repeat, separated,
};
use winnow::error::{ContextError, ErrMode, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location};
use winnow::token::{one_of, take_till, take_while};

/// A node of the syntax tree and the bytes of the source it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Compare {
        left: Box<Node>,
        op: Op,
        right: Box<Node>,
    },
    In {
        left: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    Call {
        name: String,
        args: Vec<Node>,
    },
    /// A field, possibly dotted (`rfm.cell`), or a bare word such as a stage (`strong`).
    Name(String),
    /// As written, so money keeps its exact decimal value.
    Number(String),
    Text(String),
    /// Days: `7d` = 7, `12w` = 84, `6m` = 180, `1y` = 365.
    Duration(u32),
    /// `YYYY-MM-DD` as written; the checker says whether it is a real date.
    Date(String),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Where the text stopped making sense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub expected: Vec<String>,
    pub found: String,
}

type Input<'a> = LocatingSlice<&'a str>;

const KEYWORDS: [&str; 6] = ["and", "or", "not", "in", "true", "false"];
/// The longest expression accepted: a segment is a sentence, not a program.
pub const MAX_LEN: usize = 4000;
/// How deeply parentheses and `not`s may nest (a guard for the recursive parser).
const MAX_DEPTH: usize = 32;

/// Parses an expression.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_LEN {
        return Err(SyntaxError {
            offset: MAX_LEN,
            expected: vec![format!("at most {MAX_LEN} characters")],
            found: format!("{} characters", text.len()),
        });
    }
    if let Some((offset, c)) = text.char_indices().find(|(_, c)| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || crate::validation::is_bidi_control(*c)
    }) {
        return Err(SyntaxError {
            offset,
            expected: vec!["printable text".into()],
            found: format!("the control character U+{:04X}", c as u32),
        });
    }
    if let Some(offset) = too_deep(text) {
        return Err(SyntaxError {
            offset,
            expected: vec![format!(
                "at most {MAX_DEPTH} nested parentheses and {MAX_DEPTH} 'not's"
            )],
            found: "more".into(),
        });
    }
    let input = LocatingSlice::new(text);
    let mut whole = (ws(expression), multispace0, eof_expected).map(|(e, _, _)| e);
    match whole.parse(input) {
        Ok(node) => Ok(node),
        Err(e) => {
            let offset = e.offset();
            Err(SyntaxError {
                offset,
                expected: expectations(e.inner()),
                found: found_at(text, offset),
            })
        }
    }
}

/// The first offset at which brackets (or `not`s) nest deeper than the parser allows.
fn too_deep(text: &str) -> Option<usize> {
    // Each `not` is a level of the recursive parser too; a person never writes many.
    let mut nots = 0usize;
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("not") {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 3).copied();
        let word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !word(before) && !word(after) {
            nots += 1;
            if nots > MAX_DEPTH {
                return Some(i);
            }
        }
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn expectations(e: &ContextError) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in e.context() {
        if let StrContext::Expected(v) = c {
            let s = match v {
                StrContextValue::CharLiteral(c) => format!("'{c}'"),
                StrContextValue::StringLiteral(s) => format!("'{s}'"),
                StrContextValue::Description(d) => (*d).to_owned(),
                _ => v.to_string(),
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// The word or character at `offset`, for "found …".
fn found_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or("").trim_start();
    let Some(first) = rest.chars().next() else {
        return "end of input".into();
    };
    if first.is_alphanumeric() || first == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.' || *c == '-')
            .take(40)
            .collect();
        format!("'{word}'")
    } else {
        let two: String = rest.chars().take(2).collect();
        if ["<=", ">=", "!="].contains(&two.as_str()) {
            format!("'{two}'")
        } else {
            format!("'{first}'")
        }
    }
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn eof_expected<'a>(i: &mut Input<'a>) -> ModalResult<&'a str> {
    eof.context(expected("'and'"))
        .context(expected("'or'"))
        .context(expected("end of input"))
        .parse_next(i)
}

/// Skips white space around a parser.
fn ws<'a, O, P>(p: P) -> impl Parser<Input<'a>, O, ErrMode<ContextError>>
where
    P: Parser<Input<'a>, O, ErrMode<ContextError>>,
{
    preceded(multispace0, p)
}

fn expression(i: &mut Input<'_>) -> ModalResult<Node> {
    or_expr(i)
}

fn join(first: Node, rest: Vec<Node>, make: fn(Vec<Node>) -> NodeKind) -> Node {
    if rest.is_empty() {
        return first;
    }
    let start = first.span.start;
    let end = rest.last().map_or(first.span.end, |n| n.span.end);
    let mut all = vec![first];
    all.extend(rest);
    Node {
        kind: make(all),
        span: start..end,
    }
}

fn or_expr(i: &mut Input<'_>) -> ModalResult<Node> {
    let first = and_expr(i)?;
    let rest: Vec<Node> = repeat(
        0..,
        preceded(
            ws(keyword("or")),
            cut_err(and_expr.context(expected("a condition"))),
        ),
    )
    .parse_next(i)?;
    Ok(join(first, rest, NodeKind::Or))
}

fn and_expr(i: &mut Input<'_>) -> ModalResult<Node> {
    let first = unary(i)?;
    let rest: Vec<Node> = repeat(
        0..,
        preceded(
            ws(keyword("and")),
            cut_err(unary.context(expected("a condition"))),
        ),
    )
    .parse_next(i)?;
    Ok(join(first, rest, NodeKind::And))
}

fn unary(i: &mut Input<'_>) -> ModalResult<Node> {
    let negation = opt(ws(keyword("not").with_span())).parse_next(i)?;
    match negation {
        Some((_, span)) => {
            let inner = cut_err(unary.context(expected("a condition"))).parse_next(i)?;
            let end = inner.span.end;
            Ok(Node {
                kind: NodeKind::Not(Box::new(inner)),
                span: span.start..end,
            })
        }
        None => comparison(i),
    }
}

fn comparison(i: &mut Input<'_>) -> ModalResult<Node> {
    let left = operand(i)?;
    if let Some(op) = opt(ws(operator)).parse_next(i)? {
        let right = cut_err(operand.context(expected("a value"))).parse_next(i)?;
        let span = left.span.start..right.span.end;
        return Ok(Node {
            kind: NodeKind::Compare {
                left: Box::new(left),
                op,
                right: Box::new(right),
            },
            span,
        });
    }
    // `not in` must be told from `… and not x`: only "not" directly followed by "in".
    let negated = opt(ws((keyword("not"), ws(keyword("in"))))).parse_next(i)?;
    let plain = if negated.is_none() {
        opt(ws(keyword("in"))).parse_next(i)?
    } else {
        None
    };
    if negated.is_none() && plain.is_none() {
        return Ok(left);
    }
    let (list, close) = cut_err((
        ws('(').context(expected("'('")),
        separated(1.., ws(operand), ws(',')).context(expected("a value")),
        ws(')'.span()).context(expected("',' or ')'")),
    ))
    .map(|(_, list, close): (_, Vec<Node>, Range<usize>)| (list, close))
    .parse_next(i)?;
    let span = left.span.start..close.end;
    Ok(Node {
        kind: NodeKind::In {
            left: Box::new(left),
            list,
            negated: negated.is_some(),
        },
        span,
    })
}

fn operator(i: &mut Input<'_>) -> ModalResult<Op> {
    alt((
        ">=".value(Op::Ge),
        "<=".value(Op::Le),
        "!=".value(Op::Ne),
        "<>".value(Op::Ne),
        "==".value(Op::Eq),
        "=".value(Op::Eq),
        ">".value(Op::Gt),
        "<".value(Op::Lt),
    ))
    .parse_next(i)
}

fn operand(i: &mut Input<'_>) -> ModalResult<Node> {
    ws(alt((
        parenthesised,
        date,
        duration,
        number,
        text,
        boolean,
        call_or_name,
    ))
    .context(expected("a field, a function or a value")))
    .parse_next(i)
}

fn parenthesised(i: &mut Input<'_>) -> ModalResult<Node> {
    let ((_, inner, _), span) = (
        '(',
        cut_err(expression.context(expected("a condition"))),
        cut_err(ws(')').context(expected("')'"))),
    )
        .with_span()
        .parse_next(i)?;
    // The parentheses belong to the node's span, so errors point at them.
    Ok(Node {
        kind: inner.kind,
        span,
    })
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn word<'a>(i: &mut Input<'a>) -> ModalResult<&'a str> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., ident_char),
    )
        .take()
        .parse_next(i)
}

fn keyword<'a>(kw: &'static str) -> impl Parser<Input<'a>, &'a str, ErrMode<ContextError>> {
    (kw, not(one_of(ident_char))).take()
}

fn date(i: &mut Input<'_>) -> ModalResult<Node> {
    let (text, span) = (
        take_while(4, |c: char| c.is_ascii_digit()),
        '-',
        take_while(2, |c: char| c.is_ascii_digit()),
        '-',
        take_while(2, |c: char| c.is_ascii_digit()),
        not(one_of(ident_char)),
    )
        .take()
        .with_span()
        .parse_next(i)?;
    Ok(Node {
        kind: NodeKind::Date(text.to_owned()),
        span,
    })
}

fn duration(i: &mut Input<'_>) -> ModalResult<Node> {
    let ((digits, unit), span) = (digit1, one_of(['d', 'w', 'm', 'y']))
        .with_span()
        .parse_next(i)?;
    let _: () = not(one_of(ident_char)).parse_next(i)?;
    let n: u32 = digits.parse().unwrap_or(u32::MAX);
    let per = match unit {
        'd' => 1,
        'w' => 7,
        'm' => 30,
        _ => 365,
    };
    Ok(Node {
        kind: NodeKind::Duration(n.saturating_mul(per)),
        span,
    })
}

fn number(i: &mut Input<'_>) -> ModalResult<Node> {
    let (text, span) = (
        opt('-'),
        digit1,
        opt(('.', digit1)),
        not(one_of(ident_char)),
    )
        .take()
        .with_span()
        .parse_next(i)?;
    Ok(Node {
        kind: NodeKind::Number(text.to_owned()),
        span,
    })
}

fn text(i: &mut Input<'_>) -> ModalResult<Node> {
    let quoted = |q: char| {
        delimited(
            q,
            take_till(0.., move |c: char| c == q),
            cut_err(one_of(q).context(expected("the closing quote"))),
        )
    };
    let (s, span) = alt((quoted('"'), quoted('\''))).with_span().parse_next(i)?;
    Ok(Node {
        kind: NodeKind::Text(s.to_owned()),
        span,
    })
}

fn boolean(i: &mut Input<'_>) -> ModalResult<Node> {
    let (value, span) = alt((keyword("true").value(true), keyword("false").value(false)))
        .with_span()
        .parse_next(i)?;
    Ok(Node {
        kind: NodeKind::Bool(value),
        span,
    })
}

fn call_or_name(i: &mut Input<'_>) -> ModalResult<Node> {
    let start = i.current_token_start();
    let name: String = separated(1.., word, '.')
        .map(|parts: Vec<&str>| parts.join("."))
        .parse_next(i)?;
    if KEYWORDS.contains(&name.as_str()) {
        return Err(ErrMode::Backtrack(ContextError::new()));
    }
    let opened = opt(peek(ws('('))).parse_next(i)?;
    if opened.is_none() {
        return Ok(Node {
            kind: NodeKind::Name(name),
            span: start..i.current_token_start(),
        });
    }
    let (_, args, close) = (
        ws('('),
        cut_err(separated(0.., ws(operand), ws(','))),
        cut_err(ws(')'.span()).context(expected("',' or ')'"))),
    )
        .parse_next(i)?;
    Ok(Node {
        kind: NodeKind::Call { name, args },
        span: start..close.end,
    })
}
