//! `GET /static/{path}`: the embedded files of [`crate::assets`], with long cache
//! lifetimes for the versioned URLs the pages link to.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// `GET /static/{path}`.
pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = crate::assets::find(path.as_str()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found");
    };
    let etag = format!("\"{}\"", crate::assets::version(asset.body));
    let cache = if req.query_string() == format!("v={}", crate::assets::version(asset.body)) {
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
