//! The counts behind a persona: a group's members (all, a stage, or a segment) by
//! gender, birth year, city and occupation, grouped in SQL from their profiles. What
//! the counts say is `flywheel_core::persona`.

use crate::db::Store;
use crate::dialect::json_text;
use crate::error::StoreError;
use flywheel_core::persona::{AGE_BANDS, Count, Persona, age_band, ranked};
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Whose persona.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonaGroup {
    All,
    Stage(String),
    Segment(String),
}

/// The most values of a field listed (cities, occupations); the rest are summed into
/// `other`.
const TOP: usize = 10;

impl Store {
    /// The persona of `group`, ages as of `year`.
    pub async fn persona(&self, group: &PersonaGroup, year: i32) -> Result<Persona, StoreError> {
        let backend = self.backend();
        let field = |key: &str| json_text(backend, "m.profile", key);
        let (from, bind) = match group {
            PersonaGroup::All => (
                "members m WHERE m.merged_into IS NULL AND m.erased_at IS NULL",
                None,
            ),
            PersonaGroup::Stage(stage) => (
                "members m WHERE m.merged_into IS NULL AND m.erased_at IS NULL AND m.stage = $1",
                Some(stage.clone()),
            ),
            PersonaGroup::Segment(id) => (
                "segment_members sm JOIN members m ON m.id = sm.member_id \
                 WHERE sm.segment_id = $1 AND m.merged_into IS NULL AND m.erased_at IS NULL",
                Some(id.clone()),
            ),
        };
        let mut conn = self.pool().acquire().await?;
        let mut grouped = async |expr: String| -> Result<Vec<(Option<String>, i64)>, StoreError> {
            let sql = format!(
                "SELECT {expr} AS v, CAST(COUNT(*) AS BIGINT) AS n FROM {from} GROUP BY {expr}"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            if let Some(b) = &bind {
                q = q.bind(b.clone());
            }
            q.fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get::<Option<String>, _>("v")?, r.try_get("n")?)))
                .collect()
        };
        let counts = |rows: Vec<(Option<String>, i64)>, top: usize| -> Vec<Count> {
            let all = ranked(
                rows.into_iter()
                    .map(|(v, n)| Count {
                        value: v.unwrap_or_else(|| "unknown".to_owned()),
                        members: n,
                    })
                    .collect(),
            );
            let (known, unknown): (Vec<Count>, Vec<Count>) =
                all.into_iter().partition(|c| c.value != "unknown");
            let mut out: Vec<Count> = known.iter().take(top).cloned().collect();
            let other: i64 = known.iter().skip(top).map(|c| c.members).sum();
            if other > 0 {
                out.push(Count {
                    value: "other".to_owned(),
                    members: other,
                });
            }
            out.extend(unknown);
            out
        };
        let genders = counts(grouped(field("gender")).await?, TOP);
        let cities = counts(grouped(field("city")).await?, TOP);
        let occupations = counts(grouped(field("occupation")).await?, TOP);
        let year_of = format!("substr({}, 1, 4)", field("birthday"));
        let mut bands: BTreeMap<&str, i64> = BTreeMap::new();
        for (birth, n) in grouped(year_of).await? {
            let band = birth
                .and_then(|y| y.parse::<i32>().ok())
                .map_or("unknown", |y| age_band(y, year));
            *bands.entry(band).or_default() += n;
        }
        // Largest first, as the other fields; the unknown last.
        let mut age_bands: Vec<Count> = AGE_BANDS
            .iter()
            .filter_map(|b| {
                bands.get(b).map(|n| Count {
                    value: (*b).to_owned(),
                    members: *n,
                })
            })
            .collect();
        age_bands = ranked(age_bands);
        if let Some(n) = bands.get("unknown") {
            age_bands.push(Count {
                value: "unknown".to_owned(),
                members: *n,
            });
        }
        Ok(Persona {
            members: genders.iter().map(|c| c.members).sum(),
            genders,
            age_bands,
            cities,
            occupations,
        })
    }
}
