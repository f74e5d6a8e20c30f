//! The static files, embedded in the binary (it runs from any folder), and their
//! versioned URLs: each carries a hash of the file's content, so it can be cached
//! for good. Pages and error pages link to them; `routes::assets` serves them.

use std::sync::LazyLock;

/// An embedded file.
#[derive(Debug)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "css/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/css/app.css"),
    },
    Asset {
        path: "js/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/js/app.js"),
    },
    Asset {
        path: "img/logo.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../static/img/logo.svg"),
    },
];

/// The short content hash in an asset's URL and ETag.
pub fn version(body: &[u8]) -> String {
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

/// The asset at `path` (relative to `static/`).
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
