//! Static files compiled into the binary: the cockpit's stylesheet and script, and the
//! vendored htmx and Chart.js (their licences beside them in `assets/vendor/`). Each is
//! served with a strong ETag from its content, so browsers revalidate cheaply.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 4] = [
    Asset {
        name: "cockpit.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/cockpit.css"),
    },
    Asset {
        name: "cockpit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/cockpit.js"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/htmx.min.js"),
    },
    Asset {
        name: "chart.umd.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/vendor/chart.umd.min.js"),
    },
];

/// Each asset's ETag, computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

pub(super) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
