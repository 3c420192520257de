//! E-mail over SMTP (lettre): one connection per delivery pass, so a pass of many
//! messages does not open a connection for each. A 4xx reply from the server is worth
//! another try; a 5xx (the address refused, the message rejected) is not.

use super::SmtpConfig;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// An SMTP transport for `config`.
pub fn transport(config: &SmtpConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut builder = match config.tls.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?,
    };
    if let Some(port) = config.port {
        builder = builder.port(port);
    }
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// Sends one message; Ok(the server's answer), or Err((why, permanent)).
pub async fn send(
    mailer: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    to: &str,
    message_id: i64,
    subject: &str,
    body: &str,
) -> Result<String, (String, bool)> {
    let from: Mailbox = from.parse().map_err(|e| (format!("from: {e}"), true))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| (format!("the member's address {to:?}: {e}"), true))?;
    let email = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .message_id(Some(format!("<flywheel-{message_id}@flywheel>")))
        .body(body.to_owned())
        .map_err(|e| (format!("building the message: {e}"), true))?;
    match mailer.send(email).await {
        Ok(reply) => Ok(format!("SMTP {}", reply.code())),
        Err(e) => Err((format!("SMTP: {e}"), e.is_permanent())),
    }
}
