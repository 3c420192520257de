//! Tags: dimensions designed in advance, and each member's tags with who or what set
//! them. Setting or removing a tag re-evaluates the member's segments in the same
//! transaction, so `tag("vip")` segments move at once.

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use crate::survivor::survivor_id;
use flywheel_core::ingest::MemberId;
use flywheel_core::segment::tags::{Dimension, parse_tag};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::{AnyConnection, Row};

/// A dimension as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimensionRow {
    pub dimension: Dimension,
    pub created_at: Micros,
}

/// A member's tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberTagRow {
    pub tag: String,
    /// `staff`, `import` or `segment`.
    pub source: String,
    /// The key, file or segment that set it.
    pub set_by: String,
    pub note: Option<String>,
    pub set_at: Micros,
}

/// A tag and how many members carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagCount {
    pub tag: String,
    pub dimension: Option<String>,
    pub members: i64,
}

/// What setting a tag did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetTag {
    /// Set; `replaced` the dimension's previous value, for a one-value dimension.
    Set {
        member_id: MemberId,
        replaced: Vec<String>,
    },
    /// The member carried it already.
    Unchanged {
        member_id: MemberId,
    },
    NoMember,
    /// The tag is malformed, its dimension unknown, or its value not allowed.
    Invalid(String),
}

/// A line of a tag import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagImportLine {
    pub line: u64,
    pub identity_key: String,
    pub tag: String,
}

impl Store {
    pub async fn tag_dimensions(&self) -> Result<Vec<DimensionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, multiple, allowed, created_at FROM tag_dimensions ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(dimension_from_row).collect()
    }

    /// Creates or replaces a dimension. Values members already carry stay, even if the
    /// new definition would not allow them.
    pub async fn save_tag_dimension(
        &self,
        d: &Dimension,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = dimension_in(conn, &d.id).await?;
        if before.as_ref().is_some_and(|b| &b.dimension == d) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO tag_dimensions (id, name, multiple, allowed, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, multiple = excluded.multiple, allowed = excluded.allowed",
        )
        .bind(d.id.clone())
        .bind(d.name.clone())
        .bind(i64::from(d.multiple))
        .bind(serde_json::to_string(&d.values)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "tag_dimension",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("tag_dimension:{}", d.id),
            reason: None,
            before: before.map(|b| json!(b.dimension)),
            after: Some(json!(d)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Tags in use, with how many members carry each.
    pub async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.tag AS tag, count(*) AS n FROM member_tags t JOIN members m ON m.id = t.member_id \
             WHERE m.merged_into IS NULL GROUP BY t.tag ORDER BY t.tag",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let tag: String = r.try_get("tag")?;
                Ok(TagCount {
                    dimension: tag.split_once(':').map(|(d, _)| d.to_owned()),
                    tag,
                    members: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// A member's tags (following merges). None when no member has the id.
    pub async fn member_tags(
        &self,
        id: MemberId,
    ) -> Result<Option<(MemberId, Vec<MemberTagRow>)>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(id) = survivor_id(&mut conn, id).await? else {
            return Ok(None);
        };
        let tags = tags_in(&mut conn, id).await?;
        Ok(Some((id, tags)))
    }

    /// Sets a tag on a member (staff, or an import naming its file in `set_by`).
    #[allow(clippy::too_many_arguments)]
    pub async fn set_member_tag(
        &self,
        id: MemberId,
        tag: &str,
        note: Option<&str>,
        source: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SetTag, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(id) = survivor_id(conn, id).await? else {
            return Ok(SetTag::NoMember);
        };
        let out = set_tag_in(conn, id, tag, note, source, &actor.reference, now).await?;
        if let SetTag::Set { replaced, .. } = &out {
            self.refresh_segments_in(conn, &[id], &format!("tag:{tag}"), now)
                .await?;
            let change = AuditChange {
                kind: "member_tag",
                action: "set",
                target: format!("member:{id}"),
                reason: note.map(str::to_owned),
                before: (!replaced.is_empty()).then(|| json!({"tags": replaced})),
                after: Some(json!({"tag": tag})),
            };
            audit::record(conn, now, actor, change).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Removes a tag from a member; false when the member did not carry it. None when
    /// no member has the id.
    pub async fn remove_member_tag(
        &self,
        id: MemberId,
        tag: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(id) = survivor_id(conn, id).await? else {
            return Ok(None);
        };
        let before: Option<(String, String)> =
            sqlx::query("SELECT source, set_by FROM member_tags WHERE member_id = $1 AND tag = $2")
                .bind(id)
                .bind(tag.to_owned())
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get("source")?, r.try_get("set_by")?)))
                .transpose()?;
        let Some((source, set_by)) = before else {
            return Ok(Some(false));
        };
        sqlx::query("DELETE FROM member_tags WHERE member_id = $1 AND tag = $2")
            .bind(id)
            .bind(tag.to_owned())
            .execute(&mut *conn)
            .await?;
        self.refresh_segments_in(conn, &[id], &format!("untag:{tag}"), now)
            .await?;
        let change = AuditChange {
            kind: "member_tag",
            action: "remove",
            target: format!("member:{id}"),
            reason: None,
            before: Some(json!({"tag": tag, "source": source, "set_by": set_by})),
            after: None,
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Imports tags: each line names a member by an identity key (`phone:+86…`) and a
    /// tag, set with `source` `import` by `file`. Lines are applied in transactions of a
    /// few hundred; the answer lists each rejected line with its reason.
    pub async fn import_tags(
        &self,
        lines: &[TagImportLine],
        file: &str,
        now: Micros,
    ) -> Result<(u64, Vec<(u64, String)>), StoreError> {
        let mut set = 0u64;
        let mut rejected = Vec::new();
        for chunk in lines.chunks(500) {
            let mut tx = self.begin_write().await?;
            let conn: &mut AnyConnection = &mut tx;
            let mut touched = Vec::new();
            for l in chunk {
                let owner: Option<MemberId> =
                    sqlx::query_scalar("SELECT member_id FROM identities WHERE key = $1")
                        .bind(l.identity_key.clone())
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some(owner) = owner else {
                    rejected.push((
                        l.line,
                        format!("no member has the identity {}", l.identity_key),
                    ));
                    continue;
                };
                let Some(id) = survivor_id(conn, owner).await? else {
                    rejected.push((
                        l.line,
                        format!("no member has the identity {}", l.identity_key),
                    ));
                    continue;
                };
                match set_tag_in(conn, id, &l.tag, None, "import", file, now).await? {
                    SetTag::Set { .. } => {
                        set += 1;
                        touched.push(id);
                    }
                    SetTag::Unchanged { .. } => {}
                    SetTag::Invalid(why) => rejected.push((l.line, why)),
                    SetTag::NoMember => rejected.push((l.line, "no such member".into())),
                }
            }
            touched.sort_unstable();
            touched.dedup();
            self.refresh_segments_in(conn, &touched, &format!("import:{file}"), now)
                .await?;
            tx.commit().await?;
        }
        Ok((set, rejected))
    }
}

/// Sets `tag` on member `id` (a survivor) in the caller's transaction.
pub(crate) async fn set_tag_in(
    conn: &mut AnyConnection,
    id: MemberId,
    tag: &str,
    note: Option<&str>,
    source: &str,
    set_by: &str,
    now: Micros,
) -> Result<SetTag, StoreError> {
    let name = match parse_tag(tag) {
        Ok(n) => n,
        Err(why) => return Ok(SetTag::Invalid(why)),
    };
    let mut replaced = Vec::new();
    if let Some(dim) = name.dimension {
        let Some(d) = dimension_in(conn, dim).await? else {
            return Ok(SetTag::Invalid(format!(
                "{dim:?} is not a tag dimension; create it at PUT /v1/tags/dimensions/{dim}, or use a plain tag"
            )));
        };
        if let Err(why) = d.dimension.allows(name.value) {
            return Ok(SetTag::Invalid(why));
        }
        if !d.dimension.multiple {
            let prefix = format!("{dim}:");
            for t in tags_in(conn, id).await? {
                if t.tag.starts_with(&prefix) && t.tag != tag {
                    replaced.push(t.tag);
                }
            }
            for old in &replaced {
                sqlx::query("DELETE FROM member_tags WHERE member_id = $1 AND tag = $2")
                    .bind(id)
                    .bind(old.clone())
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    let done = sqlx::query(
        "INSERT INTO member_tags (member_id, tag, source, set_by, note, set_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (member_id, tag) DO NOTHING",
    )
    .bind(id)
    .bind(tag.to_owned())
    .bind(source.to_owned())
    .bind(set_by.to_owned())
    .bind(note.map(str::to_owned))
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(if done == 0 && replaced.is_empty() {
        SetTag::Unchanged { member_id: id }
    } else {
        SetTag::Set {
            member_id: id,
            replaced,
        }
    })
}

async fn tags_in(conn: &mut AnyConnection, id: MemberId) -> Result<Vec<MemberTagRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT tag, source, set_by, note, set_at FROM member_tags WHERE member_id = $1 ORDER BY tag",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MemberTagRow {
                tag: r.try_get("tag")?,
                source: r.try_get("source")?,
                set_by: r.try_get("set_by")?,
                note: r.try_get("note")?,
                set_at: r.try_get("set_at")?,
            })
        })
        .collect()
}

fn dimension_from_row(r: &sqlx::any::AnyRow) -> Result<DimensionRow, StoreError> {
    let allowed: String = r.try_get("allowed")?;
    Ok(DimensionRow {
        dimension: Dimension {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            multiple: r.try_get::<i64, _>("multiple")? != 0,
            values: serde_json::from_str(&allowed)?,
        },
        created_at: r.try_get("created_at")?,
    })
}

async fn dimension_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<DimensionRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, multiple, allowed, created_at FROM tag_dimensions WHERE id = $1",
    )
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(dimension_from_row).transpose()
}
