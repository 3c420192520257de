//! A journey's definition and its compiled program.
//!
//! A definition is JSON a loyalty manager writes: a trigger, steps, a re-entry policy
//! and an optional goal. [`compile`] checks it (every error names its field) and turns
//! the steps into a flat program: `if` becomes a conditional jump, so a member's place
//! in a journey is one number (`pc`) that survives restarts and new versions are never
//! confused with old ones (a run keeps the version it entered).

use super::duration::{parse_duration, parse_time_of_day};
use crate::ErrorCode;
use crate::segment::{Cond, Language, compile as compile_expr};
use crate::stage::Stage;
use crate::time::Micros;
use crate::validation::FieldError;
use serde_json::{Map, Value};

/// What starts a member on a journey.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// An event of this type, when the condition holds for the member just after it.
    Event {
        event_type: String,
        when: Option<Cond>,
    },
    /// A stage change; either end may be left open.
    Stage {
        from: Option<Stage>,
        to: Option<Stage>,
    },
    /// Entering (or leaving) a saved segment.
    Segment { id: String, entered: bool },
    /// A tier change in a membership programme; any end left open matches anything
    /// (a tier gained from none, or lost to none, included).
    Tier {
        programme: Option<String>,
        from: Option<String>,
        to: Option<String>,
    },
    /// A service ticket of the member opened, breached a target or was resolved (in a
    /// queue, or any).
    Ticket {
        on: TicketMoment,
        queue: Option<String>,
    },
    /// A care moment of the member's: birthday, anniversary, service_due, repurchase
    /// (counted once per UTC day).
    Care { kind: String },
}

/// The moments of a ticket a journey can start on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketMoment {
    Opened,
    Breached,
    Resolved,
}

impl TicketMoment {
    pub const ALL: [TicketMoment; 3] = [
        TicketMoment::Opened,
        TicketMoment::Breached,
        TicketMoment::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketMoment::Opened => "opened",
            TicketMoment::Breached => "breached",
            TicketMoment::Resolved => "resolved",
        }
    }
}

impl Trigger {
    /// Whether a care moment of `kind` starts the journey.
    pub fn matches_care(&self, kind: &str) -> bool {
        matches!(self, Trigger::Care { kind: k } if k == kind)
    }

    /// Whether a ticket in `queue` reaching `moment` starts the journey.
    pub fn matches_ticket(&self, moment: TicketMoment, queue: Option<&str>) -> bool {
        match self {
            Trigger::Ticket { on, queue: q } => {
                *on == moment && q.as_deref().is_none_or(|q| Some(q) == queue)
            }
            _ => false,
        }
    }

    /// Whether a tier change in `programme` from `from` to `to` starts the journey.
    pub fn matches_tier(&self, programme: &str, from: Option<&str>, to: Option<&str>) -> bool {
        match self {
            Trigger::Tier {
                programme: p,
                from: f,
                to: t,
            } => {
                from != to
                    && p.as_deref().is_none_or(|p| p == programme)
                    && f.as_deref().is_none_or(|f| Some(f) == from)
                    && t.as_deref().is_none_or(|t| Some(t) == to)
            }
            _ => false,
        }
    }

    /// Whether a transition from `from` to `to` starts the journey.
    pub fn matches_stage(&self, from: Stage, to: Stage) -> bool {
        match self {
            Trigger::Stage { from: f, to: t } => {
                f.is_none_or(|f| f == from) && t.is_none_or(|t| t == to)
            }
            _ => false,
        }
    }
}

/// When a member who went through the journey may start it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reentry {
    Once,
    /// Again once this long has passed since they last entered.
    OncePer(Micros),
    Always,
}

impl Reentry {
    pub fn parse(text: &str) -> Result<Reentry, String> {
        match text {
            "once" => Ok(Reentry::Once),
            "always" => Ok(Reentry::Always),
            _ => match text.strip_prefix("once_per:") {
                Some(d) => parse_duration(d).map(Reentry::OncePer),
                None => Err(format!(
                    "'{text}' is not a re-entry policy: once, always or once_per:<duration> (once_per:30d)"
                )),
            },
        }
    }

    /// Whether a member who last entered at `last` (None: never) may enter at `now`.
    pub fn admits(self, last: Option<Micros>, now: Micros) -> bool {
        match (self, last) {
            (_, None) | (Reentry::Always, _) => true,
            (Reentry::Once, Some(_)) => false,
            (Reentry::OncePer(gap), Some(last)) => now - last >= gap,
        }
    }
}

/// One step of the compiled program.
#[derive(Clone, Debug)]
pub enum Op {
    /// Wait this long.
    Wait(Micros),
    /// Wait until the next time the member's clock shows this time (minutes after
    /// midnight).
    WaitUntil(u32),
    /// Send this content (its channel, or the one named).
    Send {
        content: String,
        channel: Option<String>,
    },
    Tag(String),
    Untag(String),
    /// Grant points through the ledger, under this rule id.
    Points {
        amount: i64,
        rule: String,
    },
    /// Issue the member a code of this coupon (within its limits and budget).
    Coupon(String),
    /// Post the member and the journey to the webhook channel, as this event name.
    Webhook {
        event: String,
    },
    /// Open a service request for the member (routed by category like any ticket).
    Ticket {
        category: Option<String>,
        text: Option<String>,
    },
    /// Go to `target` unless the condition holds.
    JumpUnless {
        cond: Cond,
        target: usize,
    },
    Jump(usize),
}

/// A checked journey.
#[derive(Clone, Debug)]
pub struct Journey {
    pub trigger: Trigger,
    pub reentry: Reentry,
    pub goal: Option<Cond>,
    pub program: Vec<Op>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, ErrorCode::InvalidValue, message)
}

fn expression(field: &str, text: &str, lang: &Language) -> Result<Cond, FieldError> {
    compile_expr(text, lang)
        .map_err(|e| FieldError::new(field, ErrorCode::InvalidExpression, format!("{field}: {e}")))
}

fn text_of<'a>(v: &'a Value, field: &str) -> Result<&'a str, FieldError> {
    v.as_str()
        .ok_or_else(|| FieldError::wrong_type(field, "a string"))
}

fn object_of<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, FieldError> {
    v.as_object()
        .ok_or_else(|| FieldError::wrong_type(field, "an object"))
}

fn only_keys(map: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), FieldError> {
    for k in map.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(FieldError::new(
                format!("{field}.{k}"),
                ErrorCode::UnknownField,
                format!("{field}.{k} is not one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Checks a trigger: `{"event": "purchase", "when": "…"}`, `{"stage": {"from", "to"}}`,
/// `{"segment": "id", "on": "enter" | "exit"}` or `{"tier": {"programme", "from", "to"}}`.
pub fn compile_trigger(v: &Value, lang: &Language) -> Result<Trigger, FieldError> {
    let map = object_of(v, "trigger")?;
    only_keys(
        map,
        "trigger",
        &[
            "event", "when", "stage", "segment", "on", "tier", "ticket", "care",
        ],
    )?;
    let kinds = ["event", "stage", "segment", "tier", "ticket", "care"]
        .iter()
        .filter(|k| map.contains_key(**k))
        .count();
    if kinds != 1 {
        return Err(invalid(
            "trigger",
            "a trigger names exactly one of event, stage, segment, tier, ticket or care",
        ));
    }
    if let Some(c) = map.get("care") {
        let kind = text_of(c, "trigger.care")?;
        if crate::service::care::CareKind::parse(kind).is_none() {
            return Err(invalid(
                "trigger.care",
                format!("'{kind}' is not birthday, anniversary, service_due or repurchase"),
            ));
        }
        return Ok(Trigger::Care {
            kind: kind.to_owned(),
        });
    }
    if let Some(t) = map.get("ticket") {
        let o = object_of(t, "trigger.ticket")?;
        only_keys(o, "trigger.ticket", &["on", "queue"])?;
        let on = text_of(
            o.get("on")
                .ok_or_else(|| FieldError::missing("trigger.ticket.on"))?,
            "trigger.ticket.on",
        )?;
        let on = TicketMoment::ALL
            .into_iter()
            .find(|m| m.as_str() == on)
            .ok_or_else(|| {
                invalid(
                    "trigger.ticket.on",
                    format!("'{on}' is not opened, breached or resolved"),
                )
            })?;
        let queue = match o.get("queue") {
            None | Some(Value::Null) => None,
            Some(q) => {
                let q = text_of(q, "trigger.ticket.queue")?;
                if q.is_empty() || q.len() > 40 {
                    return Err(invalid(
                        "trigger.ticket.queue",
                        "a queue id is 1-40 characters",
                    ));
                }
                Some(q.to_owned())
            }
        };
        if map.contains_key("on") {
            return Err(invalid("trigger.on", "only a segment trigger takes on"));
        }
        return Ok(Trigger::Ticket { on, queue });
    }
    if let Some(e) = map.get("event") {
        let event_type = text_of(e, "trigger.event")?;
        let sound = !event_type.is_empty()
            && event_type.len() <= 64
            && event_type
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !sound {
            return Err(invalid(
                "trigger.event",
                "an event type is 1-64 lower-case letters, digits or '_'",
            ));
        }
        let when = match map.get("when") {
            Some(w) => Some(expression(
                "trigger.when",
                text_of(w, "trigger.when")?,
                lang,
            )?),
            None => None,
        };
        return Ok(Trigger::Event {
            event_type: event_type.to_owned(),
            when,
        });
    }
    if map.contains_key("when") {
        return Err(invalid(
            "trigger.when",
            "only an event trigger takes a condition",
        ));
    }
    if let Some(s) = map.get("stage") {
        let ends = object_of(s, "trigger.stage")?;
        only_keys(ends, "trigger.stage", &["from", "to"])?;
        let end = |name: &str| -> Result<Option<Stage>, FieldError> {
            let field = format!("trigger.stage.{name}");
            match ends.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let t = text_of(v, &field)?;
                    Stage::parse(t)
                        .map(Some)
                        .ok_or_else(|| invalid(&field, format!("'{t}' is not a stage")))
                }
            }
        };
        let (from, to) = (end("from")?, end("to")?);
        if from.is_some() && from == to {
            return Err(invalid("trigger.stage", "from and to are the same stage"));
        }
        return Ok(Trigger::Stage { from, to });
    }
    if let Some(t) = map.get("tier") {
        let ends = object_of(t, "trigger.tier")?;
        only_keys(ends, "trigger.tier", &["programme", "from", "to"])?;
        let end = |name: &str| -> Result<Option<String>, FieldError> {
            let field = format!("trigger.tier.{name}");
            match ends.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let t = text_of(v, &field)?;
                    if t.is_empty() || t.len() > 64 {
                        return Err(invalid(&field, "a programme or tier id is 1-64 characters"));
                    }
                    Ok(Some(t.to_owned()))
                }
            }
        };
        let (programme, from, to) = (end("programme")?, end("from")?, end("to")?);
        if from.is_some() && from == to {
            return Err(invalid("trigger.tier", "from and to are the same tier"));
        }
        return Ok(Trigger::Tier {
            programme,
            from,
            to,
        });
    }
    let id = text_of(&map["segment"], "trigger.segment")?;
    let entered = match map
        .get("on")
        .map(|v| text_of(v, "trigger.on"))
        .transpose()?
    {
        None | Some("enter") => true,
        Some("exit") => false,
        Some(other) => {
            return Err(invalid(
                "trigger.on",
                format!("'{other}' is not enter or exit"),
            ));
        }
    };
    Ok(Trigger::Segment {
        id: id.to_owned(),
        entered,
    })
}

/// Checks the steps and flattens them into a program. `content_channel` answers the
/// channel of a content id, None when there is no such content.
pub fn compile_steps(
    steps: &Value,
    lang: &Language,
    content_channel: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Op>, FieldError> {
    let list = steps
        .as_array()
        .ok_or_else(|| FieldError::wrong_type("steps", "an array"))?;
    if list.is_empty() {
        return Err(invalid("steps", "a journey has at least one step"));
    }
    let mut program = Vec::new();
    emit(list, "steps", lang, content_channel, &mut program, 0)?;
    if program.len() > 200 {
        return Err(invalid("steps", "a journey has at most 200 steps"));
    }
    Ok(program)
}

fn emit(
    list: &[Value],
    path: &str,
    lang: &Language,
    content_channel: &dyn Fn(&str) -> Option<String>,
    program: &mut Vec<Op>,
    depth: usize,
) -> Result<(), FieldError> {
    if depth > 5 {
        return Err(invalid(path, "conditions nest at most 5 deep"));
    }
    for (i, step) in list.iter().enumerate() {
        let field = format!("{path}[{i}]");
        let map = object_of(step, &field)?;
        if map.contains_key("if") {
            only_keys(map, &field, &["if", "then", "else"])?;
            let cond = expression(
                &format!("{field}.if"),
                text_of(&map["if"], &format!("{field}.if"))?,
                lang,
            )?;
            let branch = |name: &str| -> Result<&[Value], FieldError> {
                match map.get(name) {
                    None => Ok(&[]),
                    Some(v) => v.as_array().map(Vec::as_slice).ok_or_else(|| {
                        FieldError::wrong_type(format!("{field}.{name}"), "an array")
                    }),
                }
            };
            let (then, otherwise) = (branch("then")?, branch("else")?);
            let jump_at = program.len();
            program.push(Op::Jump(0));
            emit(
                then,
                &format!("{field}.then"),
                lang,
                content_channel,
                program,
                depth + 1,
            )?;
            let skip_else_at = program.len();
            if !otherwise.is_empty() {
                program.push(Op::Jump(0));
            }
            let else_start = program.len();
            emit(
                otherwise,
                &format!("{field}.else"),
                lang,
                content_channel,
                program,
                depth + 1,
            )?;
            let end = program.len();
            program[jump_at] = Op::JumpUnless {
                cond,
                target: else_start,
            };
            if !otherwise.is_empty() {
                program[skip_else_at] = Op::Jump(end);
            }
            continue;
        }
        if map.len() != 1 {
            return Err(invalid(
                &field,
                "a step is one of wait, send, tag, untag, points, coupon, webhook, ticket or if",
            ));
        }
        let (kind, body) = map.iter().next().expect("one key");
        let inner = format!("{field}.{kind}");
        let op = match kind.as_str() {
            "wait" => match body {
                Value::String(d) => Op::Wait(parse_duration(d).map_err(|m| invalid(&inner, m))?),
                Value::Object(o) => {
                    only_keys(o, &inner, &["until"])?;
                    let until = o
                        .get("until")
                        .ok_or_else(|| FieldError::missing(format!("{inner}.until")))?;
                    let t = text_of(until, &format!("{inner}.until"))?;
                    Op::WaitUntil(
                        parse_time_of_day(t).map_err(|m| invalid(format!("{inner}.until"), m))?,
                    )
                }
                _ => {
                    return Err(FieldError::wrong_type(
                        &inner,
                        "a duration or {\"until\": \"HH:MM\"}",
                    ));
                }
            },
            "send" => {
                let o = object_of(body, &inner)?;
                only_keys(o, &inner, &["content", "channel"])?;
                let content = text_of(
                    o.get("content")
                        .ok_or_else(|| FieldError::missing(format!("{inner}.content")))?,
                    &format!("{inner}.content"),
                )?;
                if content_channel(content).is_none() {
                    return Err(FieldError::new(
                        format!("{inner}.content"),
                        ErrorCode::ContentNotFound,
                        format!("no content '{content}' in the library"),
                    ));
                }
                let channel = match o.get("channel") {
                    Some(c) => {
                        let c = text_of(c, &format!("{inner}.channel"))?;
                        if !super::is_channel(c) {
                            return Err(invalid(
                                format!("{inner}.channel"),
                                format!("'{c}' is not one of {}", super::CHANNELS.join(", ")),
                            ));
                        }
                        Some(c.to_owned())
                    }
                    None => None,
                };
                Op::Send {
                    content: content.to_owned(),
                    channel,
                }
            }
            "tag" | "untag" => {
                let t = text_of(body, &inner)?;
                crate::segment::tags::parse_tag(t).map_err(|m| {
                    FieldError::new(&inner, ErrorCode::InvalidTag, format!("{inner}: {m}"))
                })?;
                if kind == "tag" {
                    Op::Tag(t.to_owned())
                } else {
                    Op::Untag(t.to_owned())
                }
            }
            "points" => {
                let o = object_of(body, &inner)?;
                only_keys(o, &inner, &["amount", "rule"])?;
                let amount = o
                    .get("amount")
                    .ok_or_else(|| FieldError::missing(format!("{inner}.amount")))?
                    .as_i64()
                    .filter(|a| (1..=1_000_000).contains(a))
                    .ok_or_else(|| {
                        FieldError::new(
                            format!("{inner}.amount"),
                            ErrorCode::OutOfRange,
                            "points to grant are a whole number from 1 to 1000000",
                        )
                    })?;
                let rule = text_of(
                    o.get("rule")
                        .ok_or_else(|| FieldError::missing(format!("{inner}.rule")))?,
                    &format!("{inner}.rule"),
                )?;
                if rule.is_empty() || rule.len() > 64 {
                    return Err(invalid(
                        format!("{inner}.rule"),
                        "a rule id is 1-64 characters",
                    ));
                }
                Op::Points {
                    amount,
                    rule: rule.to_owned(),
                }
            }
            "coupon" => {
                let o = object_of(body, &inner)?;
                only_keys(o, &inner, &["id"])?;
                let id = text_of(
                    o.get("id")
                        .ok_or_else(|| FieldError::missing(format!("{inner}.id")))?,
                    &format!("{inner}.id"),
                )?;
                if id.is_empty() || id.len() > 40 {
                    return Err(invalid(
                        format!("{inner}.id"),
                        "a coupon id is 1-40 characters",
                    ));
                }
                Op::Coupon(id.to_owned())
            }
            "webhook" => {
                let o = object_of(body, &inner)?;
                only_keys(o, &inner, &["event"])?;
                let event = text_of(
                    o.get("event")
                        .ok_or_else(|| FieldError::missing(format!("{inner}.event")))?,
                    &format!("{inner}.event"),
                )?;
                if event.is_empty() || event.len() > 64 {
                    return Err(invalid(
                        format!("{inner}.event"),
                        "an event name is 1-64 characters",
                    ));
                }
                Op::Webhook {
                    event: event.to_owned(),
                }
            }
            "ticket" => {
                let o = object_of(body, &inner)?;
                only_keys(o, &inner, &["category", "text"])?;
                let line = |key: &str, max: usize| -> Result<Option<String>, FieldError> {
                    let field = format!("{inner}.{key}");
                    match o.get(key) {
                        None | Some(Value::Null) => Ok(None),
                        Some(v) => {
                            let t = text_of(v, &field)?;
                            if t.trim().is_empty() || t.chars().count() > max {
                                return Err(invalid(
                                    &field,
                                    format!("{field} is 1-{max} characters"),
                                ));
                            }
                            Ok(Some(t.to_owned()))
                        }
                    }
                };
                Op::Ticket {
                    category: line("category", 64)?,
                    text: line("text", 4000)?,
                }
            }
            other => {
                return Err(FieldError::new(
                    &inner,
                    ErrorCode::UnknownField,
                    format!(
                        "'{other}' is not a step: wait, send, tag, untag, points, coupon, webhook, ticket or if"
                    ),
                ));
            }
        };
        program.push(op);
    }
    Ok(())
}

/// Checks a whole definition's parts.
pub fn compile(
    trigger: &Value,
    steps: &Value,
    reentry: &str,
    goal: Option<&str>,
    lang: &Language,
    content_channel: &dyn Fn(&str) -> Option<String>,
) -> Result<Journey, FieldError> {
    let trigger = compile_trigger(trigger, lang)?;
    let reentry = Reentry::parse(reentry).map_err(|m| invalid("reentry", m))?;
    let goal = goal.map(|g| expression("goal", g, lang)).transpose()?;
    let program = compile_steps(steps, lang, content_channel)?;
    Ok(Journey {
        trigger,
        reentry,
        goal,
        program,
    })
}
