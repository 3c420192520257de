//! Claiming due messages, handing each to its adapter, and recording the answer: 2xx is
//! delivered; 4xx (but 408 and 429) fails for good, since sending it again gets the
//! same answer; anything else — 5xx, a timeout, a refused connection — is tried again
//! after a doubling delay, up to `max_attempts`.

use super::ChannelsConfig;
use flywheel_core::engagement::quiet::retry_after;
use flywheel_core::time::{Micros, SECOND, to_rfc3339};
use flywheel_store::{Claimed, Delivery, Store};
use hmac::{Hmac, Mac};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;
use std::io::Write;
use std::time::Duration;

/// What delivers: the channels' settings, one HTTP client and, when configured, the
/// SMTP transport.
#[derive(Clone)]
pub struct Senders {
    pub config: ChannelsConfig,
    http: reqwest::Client,
    mailer: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Senders {
    pub fn new(config: ChannelsConfig) -> anyhow::Result<Senders> {
        // TLS (https webhooks and bridges, SMTP) through rustls on ring, chosen over
        // aws-lc for its build cost; rustls marks ring's provider deprecated because it
        // lacks post-quantum key exchange, which these connections can do without. A
        // second install (a process making several senders) is refused harmlessly.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mailer = config
            .smtp
            .as_ref()
            .map(super::email::transport)
            .transpose()?;
        Ok(Senders {
            config,
            http,
            mailer,
        })
    }
}

/// How long a sender holds a claimed message before another may take it.
const LEASE: Micros = 60 * SECOND;

/// Delivers every message due at `now`, in claims of `batch`; returns how many were
/// delivered and how many were attempted.
pub async fn deliver_due(
    store: &Store,
    senders: &Senders,
    now: Micros,
    batch: i64,
) -> anyhow::Result<(u64, u64)> {
    let (mut delivered, mut attempted) = (0, 0);
    loop {
        let claimed = store.claim_messages(now, LEASE, batch).await?;
        if claimed.is_empty() {
            return Ok((delivered, attempted));
        }
        for c in &claimed {
            let result = deliver_one(senders, c, now).await;
            attempted += 1;
            if matches!(result, Delivery::Delivered(_)) {
                delivered += 1;
            }
            let status = match &result {
                Delivery::Delivered(_) => "delivered",
                Delivery::Retry { .. } => "retry",
                Delivery::Failed(_) => "failed",
            };
            metrics::counter!("flywheel_messages_total", "channel" => c.message.channel.clone(), "result" => status)
                .increment(1);
            store.record_delivery(c, &result, now).await?;
        }
    }
}

fn payload(c: &Claimed) -> serde_json::Value {
    let m = &c.message;
    if m.kind == "call" {
        // A journey's webhook step: its own body, with the message id beside.
        let mut body: serde_json::Value =
            serde_json::from_str(&m.body).unwrap_or_else(|_| json!({}));
        body["id"] = m.id.into();
        return body;
    }
    json!({
        "id": m.id,
        "member_id": m.member_id,
        "channel": m.channel,
        "journey": m.journey_id,
        "content": m.content_id,
        "content_version": m.content_version,
        "subject": m.subject,
        "body": m.body,
        "created_at": to_rfc3339(m.created_at),
        "attempt": c.attempt,
        "to": c.to,
    })
}

async fn deliver_one(senders: &Senders, c: &Claimed, now: Micros) -> Delivery {
    let body = payload(c).to_string();
    let cfg = &senders.config;
    let outcome = if c.message.channel == "webhook"
        && let Some(w) = &cfg.webhook
    {
        let mut mac = Hmac::<Sha256>::new_from_slice(w.secret.as_bytes()).expect("any key length");
        mac.update(body.as_bytes());
        let signature = hex(&mac.finalize().into_bytes());
        post(senders, &w.url, None, &body, c.message.id, Some(&signature)).await
    } else if c.message.channel == "email"
        && let (Some(mailer), Some(smtp)) = (&senders.mailer, &cfg.smtp)
    {
        match &c.to {
            Some(to) => {
                let subject = c.message.subject.as_deref().unwrap_or("");
                super::email::send(
                    mailer,
                    &smtp.from,
                    to,
                    c.message.id,
                    subject,
                    &c.message.body,
                )
                .await
            }
            None => Err(("the member has no e-mail address".to_owned(), true)),
        }
    } else if let Some(a) = cfg.adapter(&c.message.channel) {
        post(
            senders,
            &a.url,
            a.token.as_deref(),
            &body,
            c.message.id,
            None,
        )
        .await
    } else {
        append(&cfg.file, &body)
    };
    match outcome {
        Ok(answer) => Delivery::Delivered(answer),
        Err((answer, permanent)) => {
            let attempts = u32::try_from(c.attempt).unwrap_or(u32::MAX);
            if permanent || attempts >= cfg.max_attempts {
                Delivery::Failed(answer)
            } else {
                Delivery::Retry {
                    answer,
                    at: now + retry_after(attempts.saturating_sub(1)),
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// POSTs `body`; Ok(answer) on 2xx, Err((answer, permanent)) otherwise.
async fn post(
    senders: &Senders,
    url: &str,
    token: Option<&str>,
    body: &str,
    id: i64,
    signature: Option<&str>,
) -> Result<String, (String, bool)> {
    let mut req = senders
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-flywheel-message-id", id.to_string())
        .body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(s) = signature {
        req = req.header("x-flywheel-signature", format!("sha256={s}"));
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let text: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let answer = format!("HTTP {}: {text}", status.as_u16());
            if status.is_success() {
                Ok(answer)
            } else {
                let permanent = status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
                Err((answer, permanent))
            }
        }
        Err(e) => Err((format!("{e}"), false)),
    }
}

/// The development adapter: one JSON line per message, flushed before it counts.
fn append(path: &str, body: &str) -> Result<String, (String, bool)> {
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(format!("{body}\n").as_bytes())?;
        f.sync_data()
    };
    match write() {
        Ok(()) => Ok(format!("written to {path}")),
        Err(e) => Err((format!("{path}: {e}"), false)),
    }
}
