//! The demo brand's audiences: the built-in segments, tag dimensions a marketing team
//! would design (diet, life stage, where a member came from), staff tags on the most
//! loyal buyers, and one segment of its own that sets a rule tag.

use super::memberships::demo_actor;
use flywheel_core::segment::tags::Dimension;
use flywheel_core::segment::{Language, compile};
use flywheel_core::time::Micros;
use flywheel_store::{PutSegment, Store};

/// What the demo's audiences came to.
#[derive(Debug, Default)]
pub struct Audiences {
    pub segments: usize,
    pub vips: usize,
}

pub async fn seed(store: &Store, lang: Language, now: Micros) -> anyhow::Result<Audiences> {
    let actor = demo_actor();
    store.ensure_builtin_segments(now).await?;
    let dimensions = [
        (
            "diet",
            "Diet",
            false,
            vec!["vegetarian", "vegan", "no_dairy"],
        ),
        (
            "life_stage",
            "Life stage",
            false,
            vec!["student", "new_parent", "retired"],
        ),
        (
            "source",
            "Where they came from",
            true,
            vec!["offline_event", "livestream", "friend"],
        ),
    ];
    for (id, name, multiple, values) in dimensions {
        let d = Dimension {
            id: id.into(),
            name: name.into(),
            multiple,
            values: values.into_iter().map(str::to_owned).collect(),
        };
        store.save_tag_dimension(&d, &actor, now).await?;
    }
    // Staff tag the most regular buyers as VIPs, as a store team would by hand.
    let regulars = compile("purchase_count >= 6 and stage >= strong", &lang)?;
    let picked = store.preview_segment(&regulars, now, 150).await?;
    for (i, member) in picked.sample.iter().enumerate() {
        store
            .set_member_tag(
                *member,
                "vip",
                Some("regular at the counter"),
                "staff",
                &actor,
                now,
            )
            .await?;
        let other = [
            "diet:vegetarian",
            "source:offline_event",
            "life_stage:new_parent",
        ][i % 3];
        store
            .set_member_tag(*member, other, None, "staff", &actor, now)
            .await?;
    }
    let expression = r#"tag("vip") and days_since_last_purchase >= 60"#;
    let def = PutSegment {
        id: "vips_drifting".into(),
        name: "VIPs who have not bought for two months".into(),
        expression: expression.into(),
        tag: Some("win_back".into()),
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
    store.fill_segments(now, u32::MAX).await?;
    Ok(Audiences {
        segments: store.segments().await?.len(),
        vips: picked.sample.len(),
    })
}
