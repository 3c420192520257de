//! Members by what brought them (issue 21): for each source — the kind and name their
//! first event named (`members.source_kind`, `source_name`) — how many came, how many
//! of them have bought, and the stage each has reached. One GROUP BY over members.

use crate::db::Store;
use crate::error::StoreError;
use sqlx::Row;
use std::collections::BTreeMap;

/// One source's members (`kind` and `name` are `None` for members who named none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceFigures {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub members: i64,
    /// Members of this source with at least one order: their first purchase made.
    pub buyers: i64,
    /// Members by their current stage.
    pub stages: BTreeMap<String, i64>,
}

impl Store {
    /// Every source's figures, the most members first; the members who named no
    /// source are one more row with no kind (merged-away ids not counted).
    pub async fn source_figures(&self) -> Result<Vec<SourceFigures>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.source_kind AS kind, m.source_name AS name, m.stage AS stage, \
                    COUNT(*) AS members, COUNT(b.member_id) AS buyers \
             FROM members m \
             LEFT JOIN (SELECT DISTINCT member_id FROM orders) b ON b.member_id = m.id \
             WHERE m.merged_into IS NULL \
             GROUP BY m.source_kind, m.source_name, m.stage",
        )
        .fetch_all(self.pool())
        .await?;
        let mut by_source: BTreeMap<(Option<String>, Option<String>), SourceFigures> =
            BTreeMap::new();
        for r in rows {
            let (kind, name): (Option<String>, Option<String>) =
                (r.try_get("kind")?, r.try_get("name")?);
            let members: i64 = r.try_get("members")?;
            let figures = by_source
                .entry((kind.clone(), name.clone()))
                .or_insert_with(|| SourceFigures {
                    kind,
                    name,
                    ..SourceFigures::default()
                });
            figures.members += members;
            figures.buyers += r.try_get::<i64, _>("buyers")?;
            *figures.stages.entry(r.try_get("stage")?).or_default() += members;
        }
        let mut out: Vec<SourceFigures> = by_source.into_values().collect();
        out.sort_by(|a, b| {
            b.members
                .cmp(&a.members)
                .then_with(|| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)))
        });
        Ok(out)
    }
}
