//! Members' card numbers: given on first joining a programme, found again by number.

use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::MemberId;
use flywheel_core::membership::card::card_number;
use flywheel_core::time::Micros;
use sqlx::{AnyConnection, Row};

/// Gives `member` a card number if it has none yet.
pub(crate) async fn ensure_card(
    conn: &mut AnyConnection,
    member: MemberId,
    now: Micros,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO member_cards (member_id, card_no, issued_at) VALUES ($1, $2, $3) \
         ON CONFLICT (member_id) DO NOTHING",
    )
    .bind(member)
    .bind(card_number(member))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// A member's card number, if they have joined a programme.
    pub async fn card_of(&self, member: MemberId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT card_no FROM member_cards WHERE member_id = $1")
                .bind(member)
                .fetch_optional(self.pool())
                .await?
                .map(|row| row.try_get("card_no"))
                .transpose()?,
        )
    }

    /// The member a card number was given to (merged members' cards lead to them too:
    /// reads of the member follow merges).
    pub async fn member_by_card(&self, card_no: &str) -> Result<Option<MemberId>, StoreError> {
        Ok(
            sqlx::query("SELECT member_id FROM member_cards WHERE card_no = $1")
                .bind(card_no.to_owned())
                .fetch_optional(self.pool())
                .await?
                .map(|row| row.try_get("member_id"))
                .transpose()?,
        )
    }
}
