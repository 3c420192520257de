//! Bearer-key authentication: an extractor that turns `Authorization: Bearer KEY` into
//! a [`Caller`] with a role, and the check of a role against a permission.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use flywheel_core::ErrorCode;
use flywheel_core::auth::{Permission, Role, hash_key};

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Caller {
    pub role: Role,
    /// For audit records: `key:<id>` or `env-admin`.
    pub actor: String,
}

impl Caller {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "a {} key may not do this ({permission:?} is needed)",
                    self.role
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let unauthorized = || {
            ApiError::new(
                ErrorCode::Unauthorized,
                "send an API key as 'Authorization: Bearer KEY'",
            )
        };
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(unauthorized)?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(unauthorized)?;
        let hash = hash_key(key);
        if state.env_admin_key_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Caller {
                role: Role::Admin,
                actor: "env-admin".into(),
            });
        }
        if let Some((role, id)) = state.keys.get(&hash) {
            return Ok(Caller {
                role,
                actor: format!("key:{id}"),
            });
        }
        match state.store.find_key(&hash).await? {
            Some(row) => {
                state.keys.put(hash, row.role, row.id);
                Ok(Caller {
                    role: row.role,
                    actor: format!("key:{}", row.id),
                })
            }
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this API key is unknown or revoked",
            )),
        }
    }
}
