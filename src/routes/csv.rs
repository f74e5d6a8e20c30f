//! CSV downloads of a filtered list (the audit trail, the request log): the
//! header row, then the rows in keyset batches, streamed as they are read, so
//! a million rows never sit in memory; and cells a spreadsheet cannot run.

use std::future::Future;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Bytes;

use crate::clock::{Timestamp, fmt};
use crate::error::AppError;

/// Rows read per batch.
pub const BATCH: i64 = 1000;

/// Where a batch ends: the last row's time and id.
pub type Cursor = (Timestamp, String);

/// A spreadsheet must not run a cell as a formula: such cells get a leading `'`.
pub fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Rows as CSV bytes.
pub fn rows<I, R>(records: I) -> Result<Vec<u8>, AppError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.write_record(record).map_err(AppError::internal)?;
    }
    writer.into_inner().map_err(AppError::internal)
}

/// The download `keyward-<name>-<date>.csv`: `head`, then what `next` gives
/// for each cursor (from none, the first batch) until it gives no cursor.
/// `next` answers the batch's CSV bytes and the cursor after it, if more
/// may follow.
pub fn download<F, Fut>(name: &str, head: &[&str], next: F) -> Result<HttpResponse, AppError>
where
    F: Fn(Option<Cursor>) -> Fut + 'static,
    Fut: Future<Output = Result<(Vec<u8>, Option<Cursor>), AppError>> + 'static,
{
    let mut first = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]); // BOM: spreadsheets then read UTF-8
    first.write_record(head).map_err(AppError::internal)?;
    let first = first.into_inner().map_err(AppError::internal)?;
    let next = std::rc::Rc::new(next);
    // The header first; then each step reads the batch after the last row sent.
    let stream = futures_util::stream::unfold(Some((None::<Cursor>, Some(first))), move |step| {
        let next = std::rc::Rc::clone(&next);
        async move {
            let (cursor, head) = step?;
            if let Some(head) = head {
                return Some((Ok::<Bytes, AppError>(Bytes::from(head)), Some((None, None))));
            }
            match next(cursor).await {
                Err(e) => Some((Err(e), None)),
                Ok((chunk, _)) if chunk.is_empty() => None,
                Ok((chunk, more)) => Some((Ok(Bytes::from(chunk)), more.map(|c| (Some(c), None)))),
            }
        }
    });
    let filename = format!(
        "keyward-{name}-{}.csv",
        fmt::date_compact(crate::clock::now())
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("ada@example.com"), "ada@example.com");
    }
}
