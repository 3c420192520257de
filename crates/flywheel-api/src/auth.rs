//! Who is calling, and what they may do.
//!
//! Every `/v1` route sits behind [`guard`]: it turns `Authorization: Bearer KEY` (or HTTP
//! Basic with the key as user name, as tracking libraries send a write key) into a
//! [`Caller`], takes one request from the key's rate bucket, and masks contact details in
//! the answer for roles that must not see them. Handlers then ask for an
//! [`Allowed<P>`](Allowed), which refuses a caller without permission `P` before the
//! request's body is read — so a key that may not post events cannot make the server
//! read a large body either.

use crate::error::ApiError;
use crate::state::{AppState, KnownKey};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flywheel_core::ErrorCode;
use flywheel_core::auth::{Permission, Role, hash_key};
use std::marker::PhantomData;
use std::ops::Deref;

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Caller {
    pub role: Role,
    /// For ledger lines and records: `key:<id>` or `env-admin`.
    pub actor: String,
    /// The key's id (none for the admin key given in the environment).
    pub key_id: Option<i64>,
    /// The key's label, for the audit log.
    pub name: String,
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

    /// Who to name in the audit log.
    /// Whether the caller may see partners' codes whole: the roles that hand them out
    /// with a use (those that may spend for members). Others see the last four.
    pub fn hands_out_codes(&self) -> bool {
        self.role.allows(Permission::SpendPoints)
    }

    pub fn audit_actor(&self) -> flywheel_store::AuditActor {
        flywheel_store::AuditActor {
            reference: self.actor.clone(),
            key_id: self.key_id,
            name: self.name.clone(),
        }
    }
}

/// The caller named by the request's key, or 401.
pub(crate) async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let unauthorized = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "send an API key as 'Authorization: Bearer KEY' (or as the user name of HTTP Basic, as tracking libraries send their write key)",
        )
    };
    let header = headers.get(AUTHORIZATION).ok_or_else(unauthorized)?;
    let text = header.to_str().ok().ok_or_else(unauthorized)?;
    let key = match text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
    {
        Some(k) => k.trim().to_owned(),
        None => basic_user(text).ok_or_else(unauthorized)?,
    };
    if key.is_empty() {
        return Err(unauthorized());
    }
    identify_hash(state, &hash_key(&key)).await
}

/// The user name of `Basic base64(user:password)`: how the tracking protocol's libraries
/// send a write key (with an empty password).
fn basic_user(header: &str) -> Option<String> {
    use base64::Engine;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    Some(user.trim().to_owned())
}

/// The caller whose key hashes to `hash` (the cockpit's sessions keep the hash), or 401.
pub(crate) async fn identify_hash(state: &AppState, hash: &str) -> Result<Caller, ApiError> {
    let hash = hash.to_owned();
    if state.env_admin_key_hash.as_deref() == Some(hash.as_str()) {
        return Ok(Caller {
            role: Role::Admin,
            actor: "env-admin".into(),
            key_id: None,
            name: "FLYWHEEL_ADMIN_KEY".into(),
        });
    }
    let known = match state.keys.get(&hash) {
        Some(k) => k,
        None => match state.store.find_key(&hash).await? {
            Some(row) => {
                let known = KnownKey {
                    role: row.role,
                    id: row.id,
                    label: row.label,
                };
                state.keys.put(hash, known.clone());
                known
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "this API key is unknown or revoked",
                ));
            }
        },
    };
    Ok(Caller {
        role: known.role,
        actor: format!("key:{}", known.id),
        key_id: Some(known.id),
        name: known.label,
    })
}

/// The middleware in front of every `/v1` route: authenticate, rate-limit, and mask the
/// answer for roles that do not see personal data.
pub(crate) async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = match identify(&state, req.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state.rates.check(caller.role, &caller.actor) {
        return e.into_response();
    }
    let sees_all = caller.role.sees_personal_data();
    req.extensions_mut().insert(caller);
    let response = next.run(req).await;
    if sees_all {
        response
    } else {
        crate::privacy::mask_response(response).await
    }
}

/// A permission, as a type, for [`Allowed`].
pub trait Need: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// The permissions handlers ask for (one type per [`Permission`]).
pub mod need {
    use super::Need;
    use flywheel_core::auth::Permission;

    macro_rules! needs {
        ($($name:ident),+ $(,)?) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl Need for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }

    needs!(
        WriteEvents,
        ReadMembers,
        ManageIdentities,
        ReadConflicts,
        ReadStats,
        ReadPoints,
        SpendPoints,
        AdjustPoints,
        ManagePoints,
        ReadFinance,
        RecomputeScores,
        ReadAudit,
        ExportMembers,
        EraseMembers,
        ManageProgrammes,
        ManageMemberships,
        TagMembers,
        ManageSegments,
        SetTargets,
        ManageEngagement,
        SetConsent,
        ManageService,
        HandleTickets,
        ManageMarketing,
    );
}

/// A caller holding permission `P`; refused with 401 or 403 before the body is read.
#[derive(Debug)]
pub struct Allowed<P: Need>(Caller, PhantomData<P>);

impl<P: Need> Deref for Allowed<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<P: Need> FromRequestParts<AppState> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = match parts.extensions.get::<Caller>() {
            Some(c) => c.clone(),
            None => identify(state, &parts.headers).await?,
        };
        caller.require(P::PERMISSION)?;
        Ok(Allowed(caller, PhantomData))
    }
}
