//! Signing in to the cockpit with an API key, the session cookie, and CSRF.
//!
//! `POST /login` checks the key as the API does and opens a session: a random token in
//! an HttpOnly, SameSite=Strict cookie; the database keeps only its hash, the hash of the
//! key (so each page re-identifies the caller and a revoked key stops at once) and the
//! CSRF token that every form of the session carries. The sign-in form itself carries a
//! token matched against a short-lived cookie. `POST /logout` ends the session.

use super::page::{PageError, html_response};
use crate::auth::{Caller, identify_hash};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use flywheel_core::ErrorCode;
use flywheel_core::auth::{Role, hash_key};
use flywheel_core::time::SECOND;
use rand::RngCore;
use serde::Deserialize;

const SESSION_COOKIE: &str = "fw_session";
const LOGIN_COOKIE: &str = "fw_login";
/// How long a session lasts from sign-in.
const SESSION_HOURS: i64 = 12;

/// A signed-in person: the caller their key names, and their session's CSRF token.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    pub caller: Caller,
    pub csrf: String,
    token_hash: String,
}

/// 32 random bytes as hex.
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request's headers.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A cookie for the cockpit's paths: HttpOnly, SameSite=Strict, and Secure when the
/// request came over HTTPS (as a proxy in front says).
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Where to go after signing in: a path on this server, never another site.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn to_login(path_and_query: &str) -> Response {
    let next: String = path_and_query
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let wanted = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(&wanted));
        };
        let token_hash = hash_key(token);
        let session = match state.store.session(&token_hash, state.now()).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_login(&wanted)),
            Err(e) => return Err(PageError::from(e).into_response()),
        };
        let caller = match identify_hash(state, &session.key_hash).await {
            Ok(c) => c,
            // The key was revoked since: the session ends with it.
            Err(e) if e.code == ErrorCode::Unauthorized => {
                let _ = state.store.close_session(&token_hash).await;
                return Err(to_login(&wanted));
            }
            Err(e) => return Err(PageError(e).into_response()),
        };
        if let Err(e) = state.rates.check(caller.role, &caller.actor) {
            return Err(PageError(e).into_response());
        }
        Ok(Viewer {
            caller,
            csrf: session.csrf,
            token_hash,
        })
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// The sign-in form, with a fresh token in the form and in a cookie.
fn login_page(
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = random_hex();
    let page = LoginPage {
        csrf: &csrf,
        next,
        error,
    };
    let html = match page.render() {
        Ok(h) => h,
        Err(e) => return PageError::from(ApiError::internal(e)).into_response(),
    };
    let mut response = html_response(status, html);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &csrf, 3600),
    );
    response
}

pub(super) async fn login_form(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let next = local_path(q.next.as_deref());
    login_page(&headers, &next, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

pub(super) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return PageError::from(e).into_response(),
    };
    let next = local_path(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_secret(&form.csrf, expected) {
        let message = "The sign-in form had expired; please sign in again.";
        return login_page(&headers, &next, Some(message), StatusCode::FORBIDDEN);
    }
    let key = form.key.trim();
    let key_hash = hash_key(key);
    let caller = match identify_hash(&state, &key_hash).await {
        Ok(c) if !key.is_empty() => c,
        Ok(_)
        | Err(ApiError {
            code: ErrorCode::Unauthorized,
            ..
        }) => {
            let message = "That key is unknown or revoked.";
            return login_page(&headers, &next, Some(message), StatusCode::UNAUTHORIZED);
        }
        Err(e) => return PageError(e).into_response(),
    };
    if caller.role == Role::Integrator {
        let message = "An integrator key sends events; sign in with an admin, operator, staff, finance or read-only key.";
        return login_page(&headers, &next, Some(message), StatusCode::FORBIDDEN);
    }
    let token = random_hex();
    let now = state.now();
    let opened = state
        .store
        .open_session(
            &hash_key(&token),
            &key_hash,
            &random_hex(),
            now,
            now + SESSION_HOURS * 3600 * SECOND,
        )
        .await;
    if let Err(e) = opened {
        return PageError::from(e).into_response();
    }
    tracing::info!(actor = %caller.actor, role = %caller.role, "signed in to the cockpit");
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, &token, SESSION_HOURS * 3600),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    );
    response
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub(super) async fn logout(
    viewer: Viewer,
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form?;
    super::page::check_csrf(&viewer, &form.csrf)?;
    state.store.close_session(&viewer.token_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}
