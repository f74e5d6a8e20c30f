//! The form extractor: a urlencoded body, already checked by the request guard,
//! deserialised with repeated fields (checkbox lists) supported.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A console form of type `T`.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|_| AppError::PayloadTooLarge)?;
            serde_html_form::from_bytes(&bytes)
                .map(Form)
                .map_err(|e| AppError::BadRequest(format!("unexpected form fields ({e})")))
        })
    }
}

/// A query string of type `T` (already checked by the request guard).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            serde_html_form::from_str(req.query_string())
                .map(Query)
                .map_err(|e| AppError::BadRequest(format!("unexpected query parameters ({e})"))),
        )
    }
}

/// A form body to deserialise into several structs (the same fields may feed
/// more than one, which `#[serde(flatten)]` cannot do with repeated fields).
#[derive(Debug)]
pub struct RawForm(Bytes);

impl RawForm {
    /// The form as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, AppError> {
        serde_html_form::from_bytes(&self.0)
            .map_err(|e| AppError::BadRequest(format!("unexpected form fields ({e})")))
    }
}

impl FromRequest for RawForm {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            bytes
                .await
                .map(RawForm)
                .map_err(|_| AppError::PayloadTooLarge)
        })
    }
}

/// The button that submitted a form with several (`name="op"`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Button {
    /// Its value.
    #[serde(default)]
    pub op: String,
    /// The form's nonce, when it has one.
    #[serde(default)]
    pub nonce: String,
}
