//! WeChat's callbacks (issue 22): `GET` and `POST /wechat/official-account/callback`
//! and `/wechat/work/callback` (WeCom, always encrypted).
//! No API key: the signature over the account's token is the authentication, checked
//! before anything is read further. `GET` is the platform's URL check (answered with its
//! `echostr`); `POST` is a push, in plain or safe mode (`encrypt_type=aes`: the
//! message is encrypted with the EncodingAESKey and signed as `msg_signature`).
//!
//! A push is written before it is answered — ingested as an event through the same
//! group commit as `POST /v1/events`, or, when it cannot become one, kept in the
//! dead-letter list (`GET /v1/tracking/rejected`) — and then answered `success`, as the
//! platform expects. A push sent again (WeChat retries three times) is a duplicate.

use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::wechat::crypto::{self, MessageCrypt};
use crate::wechat::{AccountSettings, xml};
use axum::Router;
use axum::extract::State;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flywheel_core::validation::FieldError;
use flywheel_core::wechat::Fields;
use flywheel_core::{ErrorCode, parse_event};
use flywheel_store::{EventResult, RejectedCall};
use serde_json::Value;

/// A callback's body: the platform's messages are small.
const MAX_BODY: usize = 64 * 1024;

/// A callback's body, read up to [`MAX_BODY`] (413 `payload_too_large` beyond).
pub struct CallbackBody(axum::body::Bytes);

impl FromRequest<AppState> for CallbackBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        crate::body::read(state, req, MAX_BODY)
            .await
            .map(CallbackBody)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/wechat/official-account/callback",
            get(official_account_check).post(official_account_push),
        )
        .route("/wechat/work/callback", get(work_check).post(work_push))
}

/// The query string WeChat signs a callback with.
#[derive(Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// SHA-1 of the token, timestamp and nonce (the official account's plain signature).
    pub signature: Option<String>,
    /// SHA-1 of the token, timestamp, nonce and ciphertext (safe mode; WeCom always).
    pub msg_signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    /// The URL check's challenge, echoed back.
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    pub encrypt_type: Option<String>,
    /// The follower's openid (the platform repeats it here).
    pub openid: Option<String>,
}

impl CallbackQuery {
    /// From the query string; parameters WeChat may add later are ignored.
    fn of(Params(pairs): Params) -> CallbackQuery {
        let mut q = CallbackQuery::default();
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "signature" => &mut q.signature,
                "msg_signature" => &mut q.msg_signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "encrypt_type" => &mut q.encrypt_type,
                "openid" => &mut q.openid,
                _ => continue,
            };
            *slot = Some(v);
        }
        q
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn refused(reason: &str) -> ApiError {
    ApiError::new(ErrorCode::SignatureInvalid, reason.to_owned())
}

fn work_account(state: &AppState) -> Result<&AccountSettings, ApiError> {
    state.wechat.work.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "no WeCom corp is configured ([wechat.work])",
        )
    })
}

/// The message sealed in `sealed` (a push's `Encrypt`, or WeCom's `echostr`), once
/// `msg_signature` — over the token, timestamp, nonce and ciphertext — is checked. The
/// official account's safe mode and WeCom (which always encrypts) seal alike.
fn open_sealed(a: &AccountSettings, q: &CallbackQuery, sealed: &str) -> Result<String, ApiError> {
    let (timestamp, nonce) = stamp(q)?;
    let given = q
        .msg_signature
        .as_deref()
        .ok_or_else(|| refused("msg_signature is required for an encrypted message"))?;
    if !crypto::same_signature(
        &crypto::signature(&[&a.token, timestamp, nonce, sealed]),
        given,
    ) {
        return Err(refused(
            "msg_signature does not match the token and message",
        ));
    }
    let key = a.encoding_aes_key.as_deref().ok_or_else(|| {
        malformed("the message is encrypted, but no encoding_aes_key is configured".into())
    })?;
    let crypt = MessageCrypt::new(key, &a.id).map_err(malformed)?;
    crypt.decrypt(sealed).map_err(|e| match e {
        crypto::CryptError::Malformed(why) => malformed(format!("the message: {why}")),
        crypto::CryptError::WrongRecipient => {
            refused("the message was encrypted for another app id or corp id")
        }
    })
}

fn malformed(reason: String) -> ApiError {
    ApiError::new(ErrorCode::CallbackMalformed, reason)
}

/// A push's XML: its fields, or (`sealed`) the fields of the message in its `Encrypt`.
fn push_fields(
    a: &AccountSettings,
    q: &CallbackQuery,
    body: &[u8],
    sealed: bool,
) -> Result<Fields, ApiError> {
    let text_body = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8".into()))?;
    let outer = xml::fields(text_body).map_err(malformed)?;
    if !sealed {
        return Ok(outer);
    }
    let encrypted = outer
        .get("Encrypt")
        .ok_or_else(|| malformed("the body has no Encrypt".into()))?;
    xml::fields(&open_sealed(a, q, encrypted)?).map_err(malformed)
}

/// WeCom's URL check
///
/// `echostr` is encrypted; the answer is its plaintext.
#[utoipa::path(get, path = "/wechat/work/callback", tag = "wechat",
    params(CallbackQuery),
    responses(
        (status = 200, description = "The decrypted echostr, as plain text", content_type = "text/plain", body = String),
        (status = 400, description = "callback_malformed: echostr does not decrypt; invalid_query"),
        (status = 401, description = "signature_invalid: missing or not made with the token"),
        (status = 404, description = "not_found: no WeCom corp is configured"),
    ))]
pub async fn work_check(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let q = CallbackQuery::of(params);
    let a = work_account(&state)?;
    let echo = q
        .echostr
        .as_deref()
        .ok_or_else(|| refused("echostr is required"))?;
    Ok(text(open_sealed(a, &q, echo)?))
}

/// A push from WeCom
///
/// Customer contacts (`change_external_contact`): a shop assistant adding, editing or
/// losing a customer; customer groups (`change_external_chat`): a group created or
/// dismissed, customers joining or leaving. Encrypted and signed; written first — the customer's event, or a
/// dead letter when it cannot be one — then answered `success`.
#[utoipa::path(post, path = "/wechat/work/callback", tag = "wechat",
    params(CallbackQuery),
    request_body(content = String, content_type = "text/xml", description = "The push's XML, its message in Encrypt"),
    responses(
        (status = 200, description = "`success`: kept (or a retry of one kept)", content_type = "text/plain", body = String),
        (status = 400, description = "callback_malformed: not XML, or a message that does not decrypt; invalid_query"),
        (status = 401, description = "signature_invalid: missing or not made with the token; nothing written"),
        (status = 404, description = "not_found: no WeCom corp is configured"),
        (status = 413, description = "The body is larger than 64 KB"),
        (status = 503, description = "The database is unavailable: WeCom will retry"),
    ))]
pub async fn work_push(
    State(state): State<AppState>,
    params: Params,
    CallbackBody(body): CallbackBody,
) -> Result<Response, ApiError> {
    let q = CallbackQuery::of(params);
    let a = work_account(&state)?;
    let fields = push_fields(a, &q, &body, true)?;
    let events = work_events(&state, &fields).await?;
    keep(&state, "wechat_work", &fields, events).await?;
    Ok(text("success".into()))
}

/// The events a WeCom push becomes: a contact change is the customer's; a group change
/// is each customer's join or leave, with the group itself recorded first. Other pushes
/// name no customer and are kept as dead letters rather than dropped.
async fn work_events(
    state: &AppState,
    f: &Fields,
) -> Result<Result<Vec<Value>, FieldError>, ApiError> {
    use flywheel_core::wechat::{self, ChatChange};
    Ok(match f.get("Event").map(|e| e.trim()) {
        Some("change_external_contact") => wechat::work_contact_event(f).map(|e| vec![e]),
        Some("change_external_chat") => {
            let push = match wechat::work_chat_push(f) {
                Ok(push) => push,
                Err(e) => return Ok(Err(e)),
            };
            let store = &state.store;
            Ok(match &push.change {
                ChatChange::Created => {
                    store
                        .record_wecom_group(&push.chat_id, push.at, false)
                        .await?;
                    vec![]
                }
                ChatChange::Joined(ids) => ids
                    .iter()
                    .map(|id| wechat::group_event(&push, id, true))
                    .collect(),
                ChatChange::Left(ids) => ids
                    .iter()
                    .map(|id| wechat::group_event(&push, id, false))
                    .collect(),
                ChatChange::Dismissed => {
                    // Everyone still in it leaves with it; a retry finds the same
                    // customers (or none left) and makes the same events.
                    let inside = store.wecom_group_customers(&push.chat_id).await?;
                    store
                        .record_wecom_group(&push.chat_id, push.at, true)
                        .await?;
                    inside
                        .iter()
                        .map(|id| wechat::group_event(&push, id, false))
                        .collect()
                }
                ChatChange::Other => vec![],
            })
        }
        Some(other) => Err(FieldError::new(
            "Event",
            ErrorCode::InvalidValue,
            format!("WeCom's {other:?} push is not one Flywheel takes"),
        )),
        None => Err(FieldError::missing("Event")),
    })
}

fn account(state: &AppState) -> Result<&AccountSettings, ApiError> {
    state.wechat.official_account.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "no official account is configured ([wechat.official_account])",
        )
    })
}

/// `timestamp` and `nonce`, present and short.
fn stamp(q: &CallbackQuery) -> Result<(&str, &str), ApiError> {
    match (q.timestamp.as_deref(), q.nonce.as_deref()) {
        (Some(t), Some(n)) if t.len() <= 20 && n.len() <= 64 => Ok((t, n)),
        _ => Err(refused("timestamp and nonce are required")),
    }
}

/// The plain signature over the token, timestamp and nonce.
fn check_plain(a: &AccountSettings, q: &CallbackQuery) -> Result<(), ApiError> {
    let (timestamp, nonce) = stamp(q)?;
    let given = q
        .signature
        .as_deref()
        .ok_or_else(|| refused("signature is required"))?;
    if crypto::same_signature(&crypto::signature(&[&a.token, timestamp, nonce]), given) {
        Ok(())
    } else {
        Err(refused("the signature does not match the token"))
    }
}

/// The official account's URL check
///
/// WeChat calls it once when the server address is saved; the answer is `echostr`.
#[utoipa::path(get, path = "/wechat/official-account/callback", tag = "wechat",
    params(CallbackQuery),
    responses(
        (status = 200, description = "The echostr, as plain text", content_type = "text/plain", body = String),
        (status = 401, description = "signature_invalid: missing or not made with the token"),
        (status = 404, description = "not_found: no official account is configured"),
    ))]
pub async fn official_account_check(
    State(state): State<AppState>,
    params: Params,
) -> Result<Response, ApiError> {
    let q = CallbackQuery::of(params);
    let a = account(&state)?;
    check_plain(a, &q)?;
    Ok(text(q.echostr.unwrap_or_default()))
}

/// A push from the official account
///
/// Subscribes, unsubscribes, QR scans, menu clicks and the messages followers send, as
/// XML, signed (and in safe mode encrypted). Written first — as the follower's event,
/// or kept in the dead-letter list when it cannot be one — then answered `success`.
#[utoipa::path(post, path = "/wechat/official-account/callback", tag = "wechat",
    params(CallbackQuery),
    request_body(content = String, content_type = "text/xml", description = "The push's XML"),
    responses(
        (status = 200, description = "`success`: kept (or a retry of one kept)", content_type = "text/plain", body = String),
        (status = 400, description = "callback_malformed: not XML, or a safe-mode body that does not decrypt; invalid_query: a query string that does not parse"),
        (status = 401, description = "signature_invalid: missing or not made with the token; nothing written"),
        (status = 404, description = "not_found: no official account is configured"),
        (status = 413, description = "The body is larger than 64 KB"),
        (status = 503, description = "The database is unavailable: WeChat will retry"),
    ))]
pub async fn official_account_push(
    State(state): State<AppState>,
    params: Params,
    CallbackBody(body): CallbackBody,
) -> Result<Response, ApiError> {
    let q = CallbackQuery::of(params);
    let a = account(&state)?;
    check_plain(a, &q)?;
    let fields = push_fields(a, &q, &body, q.encrypt_type.as_deref() == Some("aes"))?;
    // The query repeats the follower; a body about someone else was not this push.
    if let (Some(openid), Some(from)) = (q.openid.as_deref(), fields.get("FromUserName"))
        && openid != from.trim()
    {
        return Err(malformed(
            "FromUserName is not the openid the push was signed for".into(),
        ));
    }
    let event = flywheel_core::wechat::official_account_event(&fields).map(|e| vec![e]);
    keep(&state, "wechat_official_account", &fields, event).await?;
    Ok(text("success".into()))
}

/// Ingests a push's events, or keeps the push as a dead letter when one cannot be an
/// event (once per refusal).
async fn keep(
    state: &AppState,
    call_type: &str,
    fields: &Fields,
    events: Result<Vec<Value>, FieldError>,
) -> Result<(), ApiError> {
    let now = state.now();
    let original: Value = serde_json::to_value(fields).map_err(ApiError::internal)?;
    let mut refusals = Vec::new();
    match events {
        Err(e) => refusals.push((None, e.code, Some(e.field), e.message)),
        Ok(bodies) => {
            for body in bodies {
                let id = body["event_id"].as_str().map(str::to_owned);
                match parse_event(&body, &state.policy.parse_context(now)) {
                    Err(errors) => {
                        let first = &errors[0];
                        refusals.push((
                            id,
                            first.code,
                            Some(first.field.clone()),
                            first.message.clone(),
                        ));
                    }
                    Ok(event) => match state.event_queue().submit(event, now).await? {
                        EventResult::Accepted(_) | EventResult::Duplicate(_) => {}
                        EventResult::Rejected(r) => refusals.push((id, r.code, r.field, r.message)),
                    },
                }
            }
        }
    }
    let outcome = if refusals.is_empty() {
        "kept"
    } else {
        let calls: Vec<RejectedCall> = refusals
            .into_iter()
            .map(|(message_id, code, field, reason)| RejectedCall {
                id: 0,
                received_at: now,
                call_type: Some(call_type.to_owned()),
                message_id,
                code: code.as_str().to_owned(),
                field,
                reason,
                call: original.clone(),
                key_id: None,
            })
            .collect();
        state.store.reject_calls(&calls).await?;
        "rejected"
    };
    metrics::counter!("flywheel_wechat_callbacks_total", "account" => call_type.to_owned(), "outcome" => outcome)
        .increment(1);
    Ok(())
}
