//! Masks contact details in an answer for a caller whose role must not see them
//! (`Role::sees_personal_data`, the one place that decides). Applied by the `/v1`
//! middleware to every JSON answer — documents, lists, timelines, conflicts, errors —
//! and to streamed CSV exports, line by line, so no route can forget it.

use crate::error::ApiError;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use flywheel_core::privacy::{mask_json, mask_text};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;

pub(crate) async fn mask_response(response: Response) -> Response {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("application/json") {
        let (mut parts, body) = response.into_parts();
        let bytes = match to_bytes(body, usize::MAX).await {
            Ok(b) => b,
            Err(e) => return ApiError::internal(e).into_response(),
        };
        let masked = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut value) => {
                mask_json(&mut value);
                serde_json::to_vec(&value).unwrap_or_default()
            }
            Err(_) => mask_text(&String::from_utf8_lossy(&bytes))
                .into_owned()
                .into_bytes(),
        };
        parts.headers.remove(CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(masked))
    } else if content_type.starts_with("text/csv") {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(CONTENT_LENGTH);
        Response::from_parts(parts, Body::from_stream(mask_lines(body)))
    } else {
        response
    }
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

/// The body's text with each line masked; a line split across chunks is held back until
/// it is whole, so a phone number is never cut in two.
fn mask_lines(body: Body) -> impl Stream<Item = Result<Bytes, axum::Error>> {
    let chunks: Chunks = Box::pin(body.into_data_stream());
    futures_util::stream::unfold(
        (chunks, Vec::<u8>::new(), false),
        |(mut chunks, mut carry, done)| async move {
            if done {
                return None;
            }
            loop {
                match chunks.next().await {
                    Some(Ok(chunk)) => {
                        carry.extend_from_slice(&chunk);
                        if let Some(end) = carry.iter().rposition(|b| *b == b'\n') {
                            let rest = carry.split_off(end + 1);
                            let text = mask_text(&String::from_utf8_lossy(&carry)).into_owned();
                            return Some((Ok(Bytes::from(text)), (chunks, rest, false)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (chunks, carry, true))),
                    None => {
                        let text = mask_text(&String::from_utf8_lossy(&carry)).into_owned();
                        return Some((Ok(Bytes::from(text)), (chunks, Vec::new(), true)));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn csv_lines_split_across_chunks_are_masked_whole() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from("id,identities\n1,phone:+86138001")),
            Ok(Bytes::from("38000\n2,email:li.wei@example.com\n")),
        ];
        let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        let masked = mask_response(response).await;
        let text = to_bytes(masked.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            String::from_utf8(text.to_vec()).unwrap(),
            "id,identities\n1,phone:+86138****8000\n2,email:l***@example.com\n"
        );
    }
}
