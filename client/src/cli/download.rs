//! Where `dataset download` and `batch download` put the bytes: a file (written beside
//! it and renamed once verified, with a progress bar), or the command's output (stdout),
//! hashed on the way and checked against the registry's digest either way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use serde::Serialize;
use tokio::io::AsyncWrite;

use super::output::{human_size, write_fields, write_json, OutputFormat};
use super::progress::transfer_progress;
use super::{CliError, Context};
use crate::cache::Silent;
use crate::digest::Digest;
use crate::error::Error;
use crate::http::Download;

/// What `-o FILE` wrote, as `--output json` prints it.
#[derive(Serialize)]
struct Saved<'a> {
    file: &'a Path,
    bytes: u64,
    digest: Digest,
}

/// Writes `download` to `file`, or to the output when there is none. Only the file case
/// prints a summary: on stdout the bytes are the output.
pub async fn deliver(
    mut download: Download,
    file: Option<PathBuf>,
    ctx: &mut Context<'_>,
) -> Result<(), CliError> {
    let Some(file) = file else {
        let mut sink = BlockingSink(&mut *ctx.out);
        let copied = download
            .copy_to(&mut sink, Path::new("<stdout>"), "", &mut Silent)
            .await;
        return match copied {
            Ok(_) => Ok(()),
            // Not a local input problem: the output could not be written.
            Err(Error::Io { source, .. }) => Err(CliError::Output(source)),
            Err(error) => Err(error.into()),
        };
    };
    let copied = download
        .save_to(&file, transfer_progress(ctx.quiet))
        .await?;
    let saved = Saved {
        file: &file,
        bytes: copied.bytes,
        digest: copied.digest,
    };
    if ctx.output == OutputFormat::Json {
        return Ok(write_json(ctx.out, &saved)?);
    }
    Ok(write_fields(
        ctx.out,
        &[
            ("file", saved.file.display().to_string()),
            (
                "size",
                format!("{} ({} bytes)", human_size(saved.bytes), saved.bytes),
            ),
            ("digest", saved.digest.to_string()),
        ],
    )?)
}

/// The command's output (a blocking `Write`: stdout, or a test's buffer) as the
/// `AsyncWrite` a download copies into. Each write completes at once.
struct BlockingSink<'a>(&'a mut dyn Write);

impl AsyncWrite for BlockingSink<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}
