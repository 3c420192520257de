//! The demo brand's journeys: a birthday greeting with points, a win-back for members
//! not seen for 180 days, "welcome to weak" on a third purchase within a year, and an
//! invitation to the super-user club when the score reaches 70 — with the templates they
//! send and the segment the invitation starts from. Defined before the audiences fill,
//! so the members the segments take in today start on them, and their messages land in
//! the development channel's file. And one campaign: mooncakes for the Mid-Autumn
//! festival to last month's buyers, two variants and a holdout.

use super::memberships::demo_actor;
use flywheel_core::segment::{Language, compile};
use flywheel_core::time::Micros;
use flywheel_store::{PutCampaign, PutContent, PutJourney, PutSegment, Store};
use serde_json::json;

/// A template: id, channel, subject, body and link.
type Template = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

const CONTENT: [Template; 6] = [
    (
        "mooncake-a",
        "wechat",
        None,
        "{{nickname}}, mooncakes for the Mid-Autumn festival: order by the 20th.",
        None,
    ),
    (
        "mooncake-b",
        "wechat",
        None,
        "{{nickname}}, a box of mooncakes is waiting for you: {{link}}",
        Some("https://shop.example.com/mooncakes"),
    ),
    (
        "birthday",
        "wechat",
        None,
        "Happy birthday, {{nickname}}! 200 points are in your account: {{points.balance}} to spend.",
        None,
    ),
    (
        "we-miss-you",
        "push",
        Some("It has been a while"),
        "{{nickname}}, your {{points.balance}} points are waiting. See what is new: {{link}}",
        Some("https://shop.example.com/new"),
    ),
    (
        "welcome-weak",
        "wechat",
        None,
        "Three cups in a year, {{nickname}}: welcome to the regulars. Next time, try {{recommended.sku}}. Your points: {{points.balance}}.",
        None,
    ),
    (
        "super-user-invite",
        "wechat",
        None,
        "{{nickname}}, you are one of our closest friends. Join the tasting panel: {{link}}",
        Some("https://shop.example.com/panel"),
    ),
];

/// (id, name, expression): the segment the invitation starts from; the birthday and
/// win-back journeys start from built-in segments (`birthday_this_week`,
/// `not_seen_half_year`).
const SEGMENTS: [(&str, &str, &str); 1] = [(
    "super_user_70",
    "Super-user score 70 or more",
    "super_user >= 70",
)];

/// Defines them at `now`; the campaign is dated `end` (the history's last day), so two
/// demos of the same history define the same campaign.
pub async fn define(
    store: &Store,
    lang: Language,
    end: Micros,
    now: Micros,
) -> anyhow::Result<usize> {
    let actor = demo_actor();
    for (id, channel, subject, body, link) in CONTENT {
        let c = PutContent {
            id: id.into(),
            channel: channel.into(),
            name: id.replace('-', " "),
            subject: subject.map(str::to_owned),
            body: body.into(),
            link: link.map(str::to_owned),
        };
        store.save_content(&c, false, &actor, now).await?;
    }
    for (id, name, expression) in SEGMENTS {
        let def = PutSegment {
            id: id.into(),
            name: name.into(),
            expression: expression.into(),
            tag: None,
            badge: None,
        };
        store
            .save_segment(
                &def,
                &compile(expression, &lang)?,
                false,
                false,
                &actor,
                now,
            )
            .await?;
    }
    let journeys = [
        (
            "birthday",
            "Birthday greeting with points",
            json!({"trigger": {"segment": "birthday_this_week", "on": "enter"}, "reentry": "once_per:300d",
                "steps": [{"points": {"amount": 200, "rule": "birthday"}},
                          {"wait": {"until": "10:00"}},
                          {"send": {"content": "birthday"}}]}),
        ),
        (
            "win-back",
            "Win back members not seen for 180 days",
            json!({"trigger": {"segment": "not_seen_half_year", "on": "enter"}, "reentry": "once_per:180d",
                "goal": "days_since_last_seen < 7",
                "steps": [{"send": {"content": "we-miss-you"}}, {"wait": "14d"},
                          {"if": "days_since_last_seen >= 180",
                           "then": [{"points": {"amount": 100, "rule": "win_back"}},
                                    {"send": {"content": "we-miss-you"}}]}]}),
        ),
        (
            "third-purchase",
            "Welcome to weak",
            json!({"trigger": {"event": "purchase", "when": "purchases_within(365d) == 3"},
                "reentry": "once", "steps": [{"wait": "2d"}, {"send": {"content": "welcome-weak"}}]}),
        ),
        (
            "super-user-invite",
            "Invite super users to the tasting panel",
            json!({"trigger": {"segment": "super_user_70", "on": "enter"}, "reentry": "once",
                "steps": [{"tag": "panel_invited"}, {"send": {"content": "super-user-invite"}}]}),
        ),
    ];
    let defined = journeys.len();
    for (id, name, definition) in journeys {
        // Checked as the API checks them, so a mistake here fails the demo loudly.
        flywheel_store::compile_stored(&definition, &lang)
            .map_err(|e| anyhow::anyhow!("demo journey {id}: {e}"))?;
        let j = PutJourney {
            id: id.into(),
            name: name.into(),
            status: "active".into(),
            definition,
        };
        store.save_journey(&j, false, &actor, now).await?;
    }
    // A festival campaign to last month's buyers, A/B with a tenth held out; it goes
    // out on the demo's first pass.
    let campaign = PutCampaign {
        id: "mid-autumn".into(),
        name: "Mid-Autumn mooncakes".into(),
        status: "scheduled".into(),
        definition: json!({"segment": "bought_last_month",
            "send_at": flywheel_core::time::to_rfc3339(end), "holdout": 10,
            "variants": [{"id": "a", "content": "mooncake-a"}, {"id": "b", "content": "mooncake-b"}]}),
    };
    flywheel_store::compile_stored_campaign(&campaign.definition)
        .map_err(|e| anyhow::anyhow!("demo campaign: {e}"))?;
    store.save_campaign(&campaign, false, &actor, now).await?;
    Ok(defined)
}
