//! The UI's stylesheet and script, compiled into the binary and served under names that
//! carry a digest of their content (`/ui/assets/capstan.<12 hex>.css`), so a browser may
//! keep them a year: a changed file has a new name. Nothing is fetched from elsewhere.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest as _, Sha256};

/// One embedded file.
pub struct Asset {
    /// `/ui/assets/<stem>.<digest>.<ext>`.
    pub path: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Self {
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        Asset {
            path: format!("/ui/assets/{stem}.{}.{ext}", &digest[..12]),
            content_type,
            body,
        }
    }
}

pub static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "capstan",
        "css",
        "text/css; charset=utf-8",
        include_str!("../../../ui/capstan.css"),
    )
});

pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "capstan",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/capstan.js"),
    )
});

/// `GET /ui/assets/{file}`: an asset by its current name; any other name is 404 (an
/// old name after an upgrade: the page that asked for it is stale too).
pub async fn asset(file: web::Path<String>) -> HttpResponse {
    let wanted = format!("/ui/assets/{file}");
    match [&*STYLESHEET, &*SCRIPT]
        .into_iter()
        .find(|asset| asset.path == wanted)
    {
        Some(asset) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such asset"),
    }
}
