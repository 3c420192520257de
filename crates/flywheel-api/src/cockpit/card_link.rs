//! Signed links to a member's card page: `/card/{member}-{expires}-{signature}`, where
//! the signature is an HMAC-SHA256 of the member id and the expiry under a secret the
//! server makes on first use and keeps in the database (so links survive restarts and
//! work on every instance). A link opens that member's card and nothing else, until it
//! expires; change one character and it opens nothing.

use crate::error::ApiError;
use crate::state::AppState;
use flywheel_core::ErrorCode;
use flywheel_core::ingest::MemberId;
use flywheel_core::time::{Micros, SECOND};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET_NAME: &str = "card_links";

/// The server's signing key, read (or made) once per process.
async fn secret(state: &AppState) -> Result<&[u8], ApiError> {
    let secret = state
        .card_secret
        .get_or_try_init(|| async {
            let fresh = super::session::random_hex();
            let kept = state
                .store
                .server_secret(SECRET_NAME, &fresh, state.now())
                .await?;
            Ok::<Vec<u8>, ApiError>(kept.into_bytes())
        })
        .await?;
    Ok(secret.as_slice())
}

fn signature(secret: &[u8], member: MemberId, expires_secs: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("card:{member}:{expires_secs}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    bytes[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of a link to `member`'s card that works until `expires_at`.
pub(crate) async fn sign(
    state: &AppState,
    member: MemberId,
    expires_at: Micros,
) -> Result<String, ApiError> {
    let expires_secs = expires_at.div_euclid(SECOND);
    let sig = signature(secret(state).await?, member, expires_secs);
    Ok(format!("{member}-{expires_secs}-{sig}"))
}

/// The member a token opens now, or `invalid_card_link`.
pub(crate) async fn verify(state: &AppState, token: &str) -> Result<MemberId, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCardLink,
            "this card link is not valid or has expired; ask for a new one",
        )
    };
    let mut parts = token.splitn(3, '-');
    let (Some(member), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let member: MemberId = member.parse().map_err(|_| invalid())?;
    let expires_secs: i64 = expires.parse().map_err(|_| invalid())?;
    let expected = signature(secret(state).await?, member, expires_secs);
    if !super::session::same_secret(sig, &expected) {
        return Err(invalid());
    }
    if expires_secs.saturating_mul(SECOND) <= state.now() {
        return Err(invalid());
    }
    Ok(member)
}
