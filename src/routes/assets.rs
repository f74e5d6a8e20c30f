//! Static files, embedded in the binary (it runs from any folder) and served with
//! long cache lifetimes: their URLs carry a hash of their content.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "css/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/css/app.css"),
    },
    Asset {
        path: "js/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/js/app.js"),
    },
    Asset {
        path: "img/logo.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/img/logo.svg"),
    },
];

fn version(body: &[u8]) -> String {
    crate::secrets::sha256_hex(body)[..12].to_owned()
}

/// The versioned URLs templates link to.
#[derive(Debug)]
pub struct AssetUrls {
    /// The stylesheet.
    pub css: String,
    /// The script.
    pub js: String,
    /// The logo and favicon.
    pub logo: String,
}

static URLS: LazyLock<AssetUrls> = LazyLock::new(|| {
    let url = |path: &str| {
        let v = ASSETS
            .iter()
            .find(|a| a.path == path)
            .map(|a| version(a.body))
            .unwrap_or_default();
        format!("/static/{path}?v={v}")
    };
    AssetUrls {
        css: url("css/app.css"),
        js: url("js/app.js"),
        logo: url("img/logo.svg"),
    }
});

/// The asset URLs.
pub fn urls() -> &'static AssetUrls {
    &URLS
}

/// `GET /static/{path}`.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found");
    };
    let etag = format!("\"{}\"", version(asset.body));
    let cache = if req.query_string() == format!("v={}", version(asset.body)) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(asset.body)
}
