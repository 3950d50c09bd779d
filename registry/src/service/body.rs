//! Reading a request body (or one part of it) into memory, up to a size limit.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::{RegistryError, RegistryResult};

/// Reads a body of at most `limit` bytes: 413 beyond it, 400 when the stream breaks off.
pub async fn read_limited<S, E>(mut body: S, limit: usize) -> RegistryResult<Vec<u8>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buffer = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            RegistryError::bad_request(
                "upload_interrupted",
                format!("the request body broke off: {e}"),
            )
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                detail: format!("the body is larger than the limit of {limit} bytes"),
            });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer)
}
