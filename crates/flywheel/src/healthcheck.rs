//! `flywheel healthcheck`: GET /health on a running server; exit 0 when it answers 200.
//! A plain HTTP/1.1 exchange over TCP, so the binary needs no HTTP client library.

use anyhow::{Context, bail};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn run(base: String) -> anyhow::Result<ExitCode> {
    let Some(rest) = base.strip_prefix("http://") else {
        bail!("--url must start with http://")
    };
    let host = rest.trim_end_matches('/');
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        let request = format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .context("no answer within 5 seconds")??;
    let status = response.lines().next().unwrap_or_default();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        println!("healthy: {body}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("unhealthy: {status} {body}");
        Ok(ExitCode::FAILURE)
    }
}
