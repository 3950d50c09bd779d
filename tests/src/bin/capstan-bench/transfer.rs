//! `transfer`: upload and download of one large artifact, streamed from and to disk.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context};
use bytes::{Bytes, BytesMut};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use sha2::Digest as _;
use tokio::io::AsyncReadExt;

use crate::filler::{nanos_since_epoch, unique_bytes, XorShift};
use crate::measure::{measured, mib, print_phase};
use crate::registry::{expect, version_number, Bench};
use crate::server::Server;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum UploadMode {
    /// One step: POST multipart/form-data (metadata + artifact).
    Multipart,
    /// Two steps: POST JSON metadata, then PUT the bytes to the upload URL.
    Put,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Artifact size in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// File holding the artifact; created (pseudo-random bytes) if missing or of another
    /// size. Each run overwrites its first 16 bytes on the fly, so every upload is a new
    /// blob.
    #[arg(long, default_value = "/tmp/capstan-bench-artifact.bin")]
    file: PathBuf,
    /// How to upload.
    #[arg(long, value_enum, default_value_t = UploadMode::Multipart)]
    upload: UploadMode,
    /// Where the download is written.
    #[arg(long, default_value = "/dev/null")]
    out: PathBuf,
    /// Read size when streaming the file, in KiB.
    #[arg(long, default_value_t = 256)]
    chunk_kib: usize,
    /// RSS sampling interval, in milliseconds.
    #[arg(long, default_value_t = 10)]
    sample_ms: u64,
    /// Hash the download and compare it with the version's digest (costs client CPU).
    #[arg(long)]
    verify: bool,
    /// Skip the download.
    #[arg(long)]
    no_download: bool,
}

/// Makes sure `path` holds exactly `size` bytes (pseudo-random if it has to be written).
fn prepare_file(path: &Path, size: u64) -> anyhow::Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == size)
        .unwrap_or(false)
    {
        return Ok(());
    }
    println!(
        "writing {} MiB of pseudo-random bytes to {}",
        size >> 20,
        path.display()
    );
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = XorShift::new(0x5eed);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Streams `path` in `chunk`-sized reads; the first 16 bytes are replaced by `nonce`, if
/// any.
pub fn file_stream(
    file: tokio::fs::File,
    chunk: usize,
    nonce: Option<[u8; 16]>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::try_unfold((file, true), move |(mut file, first)| async move {
        let mut buf = BytesMut::zeroed(chunk);
        let mut filled = 0;
        while filled < chunk {
            let n = file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        if let (true, Some(nonce)) = (first, nonce) {
            let n = nonce.len().min(filled);
            buf[..n].copy_from_slice(&nonce[..n]);
        }
        Ok(Some((buf.freeze(), (file, false))))
    })
}

pub async fn transfer(
    bench: &Bench,
    server: Option<Server>,
    per_thread: bool,
    args: &TransferArgs,
) -> anyhow::Result<Value> {
    let size = args.size_mib << 20;
    prepare_file(&args.file, size)?;
    bench.ensure_model().await?;
    // Warm up: open the connection and touch the database and upload paths once.
    bench.healthz().await?;
    let small = bench.upload_small(unique_bytes(1024, 7)).await?;
    let warm = bench
        .http
        .get(bench.url(&format!(
            "/models/{}/versions/{small}/artifact",
            bench.model
        )))
        .send()
        .await?;
    warm.bytes().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = server.and_then(|s| s.status_kib("VmRSS"));
    if let Some(idle) = idle {
        println!("server idle RSS {:.1} MiB (after warm-up)", mib(idle));
    }
    let sample = Duration::from_millis(args.sample_ms.max(1));
    let chunk = args.chunk_kib.max(1) << 10;
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&nanos_since_epoch().to_le_bytes());
    nonce[8..].copy_from_slice(b"capstan!");

    // Upload.
    let file = tokio::fs::File::open(&args.file).await?;
    let body = reqwest::Body::wrap_stream(file_stream(file, chunk, Some(nonce)));
    let versions_url = bench.url(&format!("/models/{}/versions", bench.model));
    let metadata = json!({ "format": "opaque", "source": "capstan-bench transfer" });
    let (version, up) = measured(server, sample, per_thread, async {
        let response = match args.upload {
            UploadMode::Multipart => {
                let form = Form::new()
                    .part(
                        "metadata",
                        Part::text(metadata.to_string()).mime_str("application/json")?,
                    )
                    .part(
                        "artifact",
                        Part::stream_with_length(body, size)
                            .file_name("model.bin")
                            .mime_str("application/octet-stream")?,
                    );
                bench
                    .http
                    .post(&versions_url)
                    .multipart(form)
                    .send()
                    .await?
            }
            UploadMode::Put => {
                let response = bench
                    .http
                    .post(&versions_url)
                    .json(&metadata)
                    .send()
                    .await?;
                let pending = expect(response, 201, "create pending version").await?;
                let upload_url = pending["upload_url"].as_str().context("no upload_url")?;
                let upload_url = if upload_url.starts_with("http") {
                    upload_url.to_owned()
                } else {
                    format!("{}{}", bench.base, upload_url)
                };
                bench
                    .http
                    .put(upload_url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .body(body)
                    .send()
                    .await?
            }
        };
        let status = if args.upload == UploadMode::Put {
            200
        } else {
            201
        };
        expect(response, status, "upload").await
    })
    .await?;
    let number = version_number(version.clone())?;
    ensure!(
        version["size"].as_u64() == Some(size),
        "the server stored {} bytes, expected {size}",
        version["size"]
    );
    println!(
        "uploaded version {number} ({})",
        version["digest"].as_str().unwrap_or("?")
    );
    let upload = print_phase("upload", size, &up, idle);

    // Download.
    let download = if args.no_download {
        Value::Null
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle_before = server.and_then(|s| s.status_kib("VmRSS"));
        if let Some(rss) = idle_before {
            println!("server RSS before download {:.1} MiB", mib(rss));
        }
        let url = bench.url(&format!(
            "/models/{}/versions/{number}/artifact",
            bench.model
        ));
        let mut out = std::fs::File::create(&args.out)
            .with_context(|| format!("cannot open {}", args.out.display()))?;
        let verify = args.verify;
        let ((received, digest), down) = measured(server, sample, per_thread, async {
            let response = bench.http.get(&url).send().await?;
            ensure!(
                response.status().as_u16() == 200,
                "download: HTTP {}",
                response.status()
            );
            let mut stream = response.bytes_stream();
            let mut received = 0u64;
            let mut hasher = verify.then(sha2::Sha256::new);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                received += chunk.len() as u64;
                if let Some(h) = hasher.as_mut() {
                    h.update(&chunk);
                }
                out.write_all(&chunk)?;
            }
            Ok((
                received,
                hasher.map(|h| format!("sha256:{}", hex::encode(h.finalize()))),
            ))
        })
        .await?;
        ensure!(
            received == size,
            "downloaded {received} bytes, expected {size}"
        );
        if let Some(digest) = digest {
            ensure!(
                Some(digest.as_str()) == version["digest"].as_str(),
                "downloaded digest {digest} differs from {}",
                version["digest"]
            );
            println!("download verified: {digest}");
        }
        print_phase("download", size, &down, idle)
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.and_then(|s| s.status_kib("VmRSS"));
    if let Some(after) = after {
        println!("server RSS after the transfers {:.1} MiB", mib(after));
    }
    Ok(json!({
        "bench": "transfer",
        "size_bytes": size,
        "upload_mode": format!("{:?}", args.upload).to_lowercase(),
        "idle_rss_kib": idle,
        "after_rss_kib": after,
        "upload": upload,
        "download": download,
    }))
}
