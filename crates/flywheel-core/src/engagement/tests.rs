use super::duration::{parse_duration, parse_time_of_day};
use super::journey::{Op, Reentry, Trigger, compile};
use super::quiet::{
    Caps, Counted, QuietHours, local_day_start, next_time_of_day, parse_offset, retry_after,
};
use super::template;
use crate::segment::Language;
use crate::stage::Stage;
use crate::time::{DAY, SECOND, parse_rfc3339};
use serde_json::json;
use std::collections::BTreeMap;

const HOUR: i64 = 3600 * SECOND;

fn lang() -> Language {
    Language::new(365)
}

fn has_content(id: &str) -> Option<String> {
    (id == "welcome-weak").then(|| "webhook".to_owned())
}

#[test]
fn durations_and_times_of_day_read_as_written() {
    assert_eq!(parse_duration("2d"), Ok(2 * DAY));
    assert_eq!(parse_duration("36h"), Ok(36 * HOUR));
    assert_eq!(parse_duration("1w"), Ok(7 * DAY));
    assert!(parse_duration("2").is_err());
    assert!(parse_duration("0d").is_err());
    assert!(parse_duration("800d").is_err());
    assert!(parse_duration("d").is_err());
    assert_eq!(parse_time_of_day("09:30"), Ok(570));
    assert!(parse_time_of_day("24:00").is_err());
    assert!(parse_time_of_day("9:00").is_err());
    assert_eq!(parse_offset("+08:00"), Ok(480));
    assert_eq!(parse_offset("-05:30"), Ok(-330));
    assert!(parse_offset("08:00").is_err());
}

#[test]
fn templates_refuse_unknown_variables_and_fill_known_ones() {
    let body = "Hi {{nickname}}, you have {{ points.balance }} points.";
    assert!(template::check(body).is_ok());
    assert_eq!(template::variables(body), ["nickname", "points.balance"]);
    let e = template::check("Hi {{nick}}").unwrap_err();
    assert_eq!(e.at, 3);
    assert!(
        e.message.contains("unknown variable 'nick'"),
        "{}",
        e.message
    );
    assert!(template::check("Hi {{nickname").is_err());
    let mut values = BTreeMap::new();
    values.insert("nickname", "Yan".to_owned());
    values.insert("points.balance", "120".to_owned());
    assert_eq!(
        template::render(body, &values),
        "Hi Yan, you have 120 points."
    );
    values.remove("nickname");
    assert_eq!(template::render(body, &values), "Hi , you have 120 points.");
}

#[test]
fn the_issue_example_compiles_to_a_wait_then_a_send() {
    let j = compile(
        &json!({"event": "purchase", "when": "purchases_within(365d) == 3"}),
        &json!([{"wait": "2d"}, {"send": {"content": "welcome-weak"}}]),
        "once",
        None,
        &lang(),
        &has_content,
    )
    .unwrap();
    assert!(
        matches!(j.trigger, Trigger::Event { ref event_type, when: Some(_) } if event_type == "purchase")
    );
    assert_eq!(j.reentry, Reentry::Once);
    assert!(matches!(j.program[0], Op::Wait(d) if d == 2 * DAY));
    assert!(
        matches!(j.program[1], Op::Send { ref content, channel: None } if content == "welcome-weak")
    );
}

#[test]
fn an_if_becomes_jumps_that_skip_the_branch_not_taken() {
    let j = compile(
        &json!({"stage": {"to": "weak"}}),
        &json!([
            {"if": "points_balance >= 100", "then": [{"tag": "rich"}], "else": [{"tag": "poor"}, {"untag": "rich"}]},
            {"send": {"content": "welcome-weak"}}
        ]),
        "always",
        Some("purchases_within(30d) >= 1"),
        &lang(),
        &has_content,
    )
    .unwrap();
    // 0 JumpUnless→3, 1 Tag rich, 2 Jump→5, 3 Tag poor, 4 Untag rich, 5 Send.
    assert!(matches!(j.program[0], Op::JumpUnless { target: 3, .. }));
    assert!(matches!(j.program[2], Op::Jump(5)));
    assert!(matches!(j.program[5], Op::Send { .. }));
    assert!(j.goal.is_some());
    assert!(j.trigger.matches_stage(Stage::Micro, Stage::Weak));
    assert!(!j.trigger.matches_stage(Stage::Weak, Stage::Strong));
}

#[test]
fn every_bad_definition_names_its_field() {
    let bad = |trigger: serde_json::Value, steps: serde_json::Value, reentry: &str| {
        compile(&trigger, &steps, reentry, None, &lang(), &has_content)
            .unwrap_err()
            .field
    };
    let ok_steps = json!([{"send": {"content": "welcome-weak"}}]);
    assert_eq!(
        bad(
            json!({"event": "purchase", "when": "purchases >"}),
            ok_steps.clone(),
            "once"
        ),
        "trigger.when"
    );
    assert_eq!(
        bad(
            json!({"event": "purchase", "stage": {}}),
            ok_steps.clone(),
            "once"
        ),
        "trigger"
    );
    assert_eq!(
        bad(json!({"stage": {"to": "gold"}}), ok_steps.clone(), "once"),
        "trigger.stage.to"
    );
    assert_eq!(
        bad(
            json!({"segment": "vip", "on": "stay"}),
            ok_steps.clone(),
            "once"
        ),
        "trigger.on"
    );
    assert_eq!(
        bad(json!({"event": "purchase"}), ok_steps.clone(), "twice"),
        "reentry"
    );
    assert_eq!(
        bad(
            json!({"event": "purchase"}),
            json!([{"send": {"content": "nope"}}]),
            "once"
        ),
        "steps[0].send.content"
    );
    assert_eq!(
        bad(
            json!({"event": "purchase"}),
            json!([{"wait": "2x"}]),
            "once"
        ),
        "steps[0].wait"
    );
    assert_eq!(
        bad(json!({"event": "purchase"}), json!([{"jump": 1}]), "once"),
        "steps[0].jump"
    );
    assert_eq!(
        bad(
            json!({"event": "purchase"}),
            json!([{"if": "stage >= weak", "then": [{"wait": {"until": "25:00"}}]}]),
            "once"
        ),
        "steps[0].then[0].wait.until"
    );
    assert_eq!(
        bad(json!({"event": "purchase"}), json!([]), "once"),
        "steps"
    );
}

#[test]
fn reentry_admits_as_its_policy_says() {
    let t = 100 * DAY;
    assert!(Reentry::Once.admits(None, t));
    assert!(!Reentry::Once.admits(Some(t - 400 * DAY), t));
    assert!(Reentry::Always.admits(Some(t), t));
    let monthly = Reentry::parse("once_per:30d").unwrap();
    assert!(!monthly.admits(Some(t - 29 * DAY), t));
    assert!(monthly.admits(Some(t - 30 * DAY), t));
}

#[test]
fn quiet_hours_hold_a_message_until_morning_on_the_members_clock() {
    let quiet = QuietHours {
        start: 21 * 60,
        end: 9 * 60,
    };
    // 15:30 UTC is 23:30 in Shanghai: held until 09:00 local, 01:00 UTC next day.
    let late = parse_rfc3339("2026-12-05T15:30:00Z").unwrap();
    assert_eq!(
        quiet.hold_until(late, 480),
        parse_rfc3339("2026-12-06T01:00:00Z")
    );
    // 00:30 UTC is 08:30 local: held half an hour.
    let early = parse_rfc3339("2026-12-06T00:30:00Z").unwrap();
    assert_eq!(
        quiet.hold_until(early, 480),
        parse_rfc3339("2026-12-06T01:00:00Z")
    );
    // 02:00 UTC is 10:00 local: goes now.
    assert_eq!(
        quiet.hold_until(parse_rfc3339("2026-12-06T02:00:00Z").unwrap(), 480),
        None
    );
    // The same instant in UTC is 15:30: not quiet.
    assert_eq!(quiet.hold_until(late, 0), None);
    assert_eq!(QuietHours { start: 0, end: 0 }.hold_until(late, 480), None);
    assert_eq!(
        local_day_start(late, 480),
        parse_rfc3339("2026-12-04T16:00:00Z").unwrap()
    );
    assert_eq!(
        next_time_of_day(late, 480, 9 * 60),
        parse_rfc3339("2026-12-06T01:00:00Z").unwrap()
    );
}

#[test]
fn caps_stop_the_message_past_the_limit() {
    let caps = Caps {
        channel_per_day: 3,
        channel_per_week: 10,
        all_per_day: 5,
    };
    assert_eq!(
        caps.breached(Counted {
            channel_day: 2,
            channel_week: 2,
            all_day: 2
        }),
        None
    );
    assert_eq!(
        caps.breached(Counted {
            channel_day: 3,
            channel_week: 3,
            all_day: 3
        }),
        Some("frequency_cap_channel_day")
    );
    assert_eq!(
        caps.breached(Counted {
            channel_day: 0,
            channel_week: 10,
            all_day: 3
        }),
        Some("frequency_cap_channel_week")
    );
    assert_eq!(
        caps.breached(Counted {
            channel_day: 0,
            channel_week: 0,
            all_day: 5
        }),
        Some("frequency_cap_all_day")
    );
    let none = Caps {
        channel_per_day: 0,
        channel_per_week: 0,
        all_per_day: 0,
    };
    assert_eq!(
        none.breached(Counted {
            channel_day: 99,
            channel_week: 99,
            all_day: 99
        }),
        None
    );
    assert_eq!(retry_after(0), 60 * SECOND);
    assert_eq!(retry_after(3), 8 * 60 * SECOND);
    assert_eq!(retry_after(30), 6 * HOUR);
}

#[test]
fn a_message_is_decided_by_consent_then_the_list_then_caps_then_quiet_hours() {
    use super::{Circumstances, Decision, EngagementPolicy};
    let dnd = EngagementPolicy::default().rules().unwrap();
    // 14:00 in Shanghai is outside the default quiet hours (21:00-09:00).
    let afternoon = parse_rfc3339("2026-11-02T06:00:00Z").unwrap();
    let night = parse_rfc3339("2026-11-02T15:00:00Z").unwrap(); // 23:00 local
    let fine = Circumstances::default();
    assert_eq!(dnd.decide("webhook", fine, afternoon), Decision::Send);
    // SMS and e-mail need a grant by default; a withdrawal beats everything.
    assert_eq!(
        dnd.decide("sms", fine, afternoon),
        Decision::Suppress("no_consent")
    );
    let granted = Circumstances {
        consent: Some(true),
        ..fine
    };
    assert_eq!(dnd.decide("sms", granted, afternoon), Decision::Send);
    let withdrawn = Circumstances {
        consent: Some(false),
        suppressed: true,
        ..fine
    };
    assert_eq!(
        dnd.decide("push", withdrawn, afternoon),
        Decision::Suppress("consent_withdrawn")
    );
    let listed = Circumstances {
        suppressed: true,
        ..granted
    };
    assert_eq!(
        dnd.decide("sms", listed, afternoon),
        Decision::Suppress("suppression_list")
    );
    let busy = Circumstances {
        counted: Counted {
            channel_day: 0,
            channel_week: 0,
            all_day: 3,
        },
        ..fine
    };
    assert_eq!(
        dnd.decide("push", busy, afternoon),
        Decision::Suppress("frequency_cap_all_day")
    );
    // A service notice needs no opt-in and no cap stops it; a withdrawal still does.
    let notice = Circumstances {
        service: true,
        ..busy
    };
    assert_eq!(dnd.decide("sms", notice, afternoon), Decision::Send);
    let refused = Circumstances {
        consent: Some(false),
        ..notice
    };
    assert_eq!(
        dnd.decide("sms", refused, afternoon),
        Decision::Suppress("consent_withdrawn")
    );
    // At 23:00 local the message waits for 09:00 local (01:00 UTC the next day).
    assert_eq!(
        dnd.decide("push", fine, night),
        Decision::Hold(parse_rfc3339("2026-11-03T01:00:00Z").unwrap())
    );
    let unreachable = Circumstances {
        no_address: true,
        ..granted
    };
    assert_eq!(
        dnd.decide("sms", unreachable, afternoon),
        Decision::Suppress("no_address")
    );
    let gone = Circumstances {
        gone: true,
        ..granted
    };
    assert_eq!(
        dnd.decide("sms", gone, afternoon),
        Decision::Suppress("member_gone")
    );
    // Settings are checked with their names.
    let bad = EngagementPolicy {
        opt_in_channels: vec!["fax".into()],
        ..EngagementPolicy::default()
    };
    assert!(bad.validate().unwrap_err().contains("opt_in_channels"));
    let bad = EngagementPolicy {
        quiet_end: "25:00".into(),
        ..EngagementPolicy::default()
    };
    assert!(bad.validate().unwrap_err().contains("quiet_end"));
}

#[test]
fn campaigns_split_members_stably_with_a_holdout_and_repeat_until_the_end() {
    use super::campaign::compile_campaign;
    let def = json!({"segment": "buyers", "send_at": "2026-09-25T10:00:00+08:00", "every": "7d",
        "until": "2026-10-20T00:00:00Z", "holdout": 10,
        "variants": [{"id": "a", "content": "x", "weight": 1}, {"id": "b", "content": "y", "weight": 3}]});
    let c = compile_campaign(def.as_object().unwrap(), &|_| true).unwrap();
    let mut counts = [0u32; 3];
    for m in 1..=20_000 {
        let got = c.assign("autumn", m);
        assert_eq!(
            got,
            c.assign("autumn", m),
            "the same member, the same group"
        );
        counts[got.map_or(2, |i| i)] += 1;
    }
    // About 10% held out; the rest split 1:3.
    assert!((1_700..2_300).contains(&counts[2]), "{counts:?}");
    assert!((4_000..5_000).contains(&counts[0]), "{counts:?}");
    assert!((13_000..14_000).contains(&counts[1]), "{counts:?}");
    let first = parse_rfc3339("2026-09-25T02:00:00Z").unwrap();
    assert_eq!(c.send_at, first);
    assert_eq!(c.next_after(first, first), Some(first + 7 * DAY));
    // A server down for two weeks sends the next one due, not a backlog.
    assert_eq!(
        c.next_after(first, first + 15 * DAY),
        Some(first + 21 * DAY)
    );
    assert_eq!(
        c.next_after(first + 21 * DAY, first + 21 * DAY),
        None,
        "past until"
    );
    // Errors name their field.
    for (bad, field) in [
        (
            json!({"segment": "s", "send_at": "soon", "content": "x"}),
            "send_at",
        ),
        (
            json!({"segment": "s", "send_at": "2026-09-25T10:00:00Z", "content": "x", "every": "1h"}),
            "every",
        ),
        (
            json!({"segment": "s", "send_at": "2026-09-25T10:00:00Z", "content": "x", "holdout": 80}),
            "holdout",
        ),
        (
            json!({"segment": "s", "send_at": "2026-09-25T10:00:00Z", "variants": [{"id": "holdout", "content": "x"}]}),
            "variants[0].id",
        ),
        (
            json!({"segment": "s", "send_at": "2026-09-25T10:00:00Z", "content": "gone"}),
            "content",
        ),
        (
            json!({"send_at": "2026-09-25T10:00:00Z", "content": "x"}),
            "segment",
        ),
    ] {
        let e = compile_campaign(bad.as_object().unwrap(), &|c| c != "gone").unwrap_err();
        assert_eq!(e.field, field, "{bad}: {}", e.message);
    }
}
