//! The channels messages leave by. Each claimed outbox row goes to its channel's
//! adapter: the webhook channel (JSON POSTed to `[channels.webhook] url`, signed with
//! HMAC-SHA256 of the body under `secret` in `X-Flywheel-Signature`), e-mail over SMTP
//! (`[channels.smtp]`, with lettre; STARTTLS or TLS through rustls), an HTTP adapter per
//! provider channel (`[channels.sms]`, `[channels.wechat]`, `[channels.push]`: the same
//! JSON to the provider's bridge, with its token and the member's address), and the
//! development adapter, which appends each message as a JSON line to `[channels] file` —
//! what a channel with nothing configured uses, so the demo and the tests run offline.
//!
//! Every message carries its outbox id (`X-Flywheel-Message-Id`, `"id"` in the file):
//! delivery is at least once, and that id is how a receiver tells a repeat.

mod deliver;
mod email;

pub use deliver::{Senders, deliver_due};

use serde::Deserialize;

/// `[channels]` in the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Where the development adapter appends messages (JSON lines).
    pub file: String,
    pub webhook: Option<WebhookConfig>,
    pub sms: Option<AdapterConfig>,
    pub wechat: Option<AdapterConfig>,
    pub push: Option<AdapterConfig>,
    pub smtp: Option<SmtpConfig>,
    /// Attempts before a message is failed for good.
    pub max_attempts: u32,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            file: "flywheel-messages.jsonl".into(),
            webhook: None,
            sms: None,
            wechat: None,
            push: None,
            smtp: None,
            max_attempts: 8,
        }
    }
}

/// `[channels.webhook]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Signs each body (HMAC-SHA256, hex) in `X-Flywheel-Signature: sha256=<hex>`.
    pub secret: String,
}

/// `[channels.smtp]`: the mail server e-mail goes through.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 587 by default (25 with `tls = "none"`, 465 with `tls = "tls"`).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (the default), `tls` (implicit TLS) or `none` (a relay on a private
    /// network, or a local sink).
    #[serde(default = "default_tls")]
    pub tls: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender: `Brand <news@brand.example>`.
    pub from: String,
}

fn default_tls() -> String {
    "starttls".into()
}

/// A provider's bridge: messages are POSTed there as JSON with `Authorization: Bearer
/// <token>`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    pub url: String,
    #[serde(default)]
    pub token: Option<String>,
}

impl ChannelsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let urls = [
            (
                "channels.webhook.url",
                self.webhook.as_ref().map(|w| &w.url),
            ),
            ("channels.sms.url", self.sms.as_ref().map(|a| &a.url)),
            ("channels.wechat.url", self.wechat.as_ref().map(|a| &a.url)),
            ("channels.push.url", self.push.as_ref().map(|a| &a.url)),
        ];
        for (name, url) in urls {
            if let Some(u) = url
                && !(u.starts_with("http://") || u.starts_with("https://"))
            {
                return Err(format!("{name} must be an http(s) URL"));
            }
        }
        if let Some(w) = &self.webhook
            && w.secret.len() < 16
        {
            return Err("channels.webhook.secret must be at least 16 characters".into());
        }
        if let Some(m) = &self.smtp {
            if !["starttls", "tls", "none"].contains(&m.tls.as_str()) {
                return Err("channels.smtp.tls is starttls, tls or none".into());
            }
            if m.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(format!(
                    "channels.smtp.from {:?} is not a mailbox (Brand <news@brand.example>)",
                    m.from
                ));
            }
            if m.username.is_some() != m.password.is_some() {
                return Err("channels.smtp: give both username and password, or neither".into());
            }
        }
        if self.max_attempts == 0 {
            return Err("channels.max_attempts must be at least 1".into());
        }
        Ok(())
    }

    /// The HTTP adapter configured for `channel`, if any.
    fn adapter(&self, channel: &str) -> Option<&AdapterConfig> {
        match channel {
            "sms" => self.sms.as_ref(),
            "wechat" => self.wechat.as_ref(),
            "push" => self.push.as_ref(),
            _ => None,
        }
    }
}
