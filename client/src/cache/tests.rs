//! Unit tests of the blob cache against an in-memory source that can break off,
//! ignore ranges or lie about its digest.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use super::*;

/// Serves `data`; the first `breaks` opens stop after `cut` bytes with an error.
#[derive(Clone)]
struct FakeSource {
    data: Vec<u8>,
    etag: Option<Digest>,
    honour_range: bool,
    breaks: Arc<Mutex<u32>>,
    cut: usize,
    opened_at: Arc<Mutex<Vec<u64>>>,
}

impl FakeSource {
    fn new(data: &[u8]) -> Self {
        FakeSource {
            data: data.to_vec(),
            etag: Some(Digest::of(data)),
            honour_range: true,
            breaks: Arc::new(Mutex::new(0)),
            cut: 0,
            opened_at: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

struct Broken(Cursor<Vec<u8>>);

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
            n => Ok(n),
        }
    }
}

impl BlobSource for FakeSource {
    fn open(&mut self, offset: u64) -> Result<BlobStream> {
        self.opened_at.lock().unwrap().push(offset);
        let start = if self.honour_range { offset } else { 0 };
        let rest = self.data[start as usize..].to_vec();
        let mut breaks = self.breaks.lock().unwrap();
        let body: Box<dyn Read + Send> = if *breaks > 0 {
            *breaks -= 1;
            Box::new(Broken(Cursor::new(
                rest[..self.cut.min(rest.len())].to_vec(),
            )))
        } else {
            Box::new(Cursor::new(rest))
        };
        Ok(BlobStream {
            start,
            total: Some(self.data.len() as u64),
            etag: self.etag,
            body,
        })
    }

    fn retry_after(&self, attempt: u32) -> Option<Duration> {
        (attempt < 3).then_some(Duration::from_millis(1))
    }
}

fn data() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn downloads_once_then_serves_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let mut source = FakeSource::new(&data);
    let first = cache
        .fetch(
            &digest,
            Some(data.len() as u64),
            "m@1",
            &mut source,
            &mut Silent,
        )
        .unwrap();
    assert!(!first.cached);
    assert_eq!(first.downloaded, data.len() as u64);
    assert_eq!(fs::read(&first.path).unwrap(), data);
    let second = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    assert!(second.cached);
    assert_eq!(source.opened_at.lock().unwrap().len(), 1);
}

#[test]
fn a_broken_download_resumes_with_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let mut source = FakeSource::new(&data);
    *source.breaks.lock().unwrap() = 1;
    source.cut = 70_000;
    let blob = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    assert_eq!(*source.opened_at.lock().unwrap(), vec![0, 70_000]);
    assert_eq!(blob.downloaded, data.len() as u64);
    assert_eq!(fs::read(blob.path).unwrap(), data);
}

#[test]
fn a_later_process_resumes_a_released_partial() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let mut failing = FakeSource::new(&data);
    *failing.breaks.lock().unwrap() = 10;
    failing.cut = 50_000;
    let error = cache
        .fetch(&digest, None, "m@1", &mut failing, &mut Silent)
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    let mut source = FakeSource::new(&data);
    let blob = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    assert!(blob.resumed_from >= 50_000, "{blob:?}");
    assert_eq!(blob.downloaded + blob.resumed_from, data.len() as u64);
    assert_eq!(fs::read(blob.path).unwrap(), data);
    let leftovers = fs::read_dir(dir.path().join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_server_that_ignores_the_range_still_yields_the_right_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let mut source = FakeSource::new(&data);
    source.honour_range = false;
    *source.breaks.lock().unwrap() = 1;
    source.cut = 10_000;
    let blob = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    assert_eq!(fs::read(blob.path).unwrap(), data);
}

#[test]
fn a_corrupt_partial_is_discarded_and_downloaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    fs::create_dir_all(dir.path().join("tmp")).unwrap();
    fs::write(
        dir.path()
            .join("tmp")
            .join(format!("{}.partial", digest.hex())),
        vec![0xff; 1000],
    )
    .unwrap();
    let mut source = FakeSource::new(&data);
    let blob = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    assert_eq!(*source.opened_at.lock().unwrap(), vec![1000, 0]);
    assert_eq!(fs::read(blob.path).unwrap(), data);
}

#[test]
fn wrong_bytes_from_the_registry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let pinned = Digest::of(b"the bytes that were pinned");
    let mut honest_etag = FakeSource::new(&data);
    let error = cache
        .fetch(&pinned, None, "m@1", &mut honest_etag, &mut Silent)
        .unwrap_err();
    assert!(matches!(error, Error::Digest { .. }), "{error}");
    let mut no_etag = FakeSource::new(&data);
    no_etag.etag = None;
    let error = cache
        .fetch(&pinned, None, "m@1", &mut no_etag, &mut Silent)
        .unwrap_err();
    assert!(matches!(error, Error::Digest { .. }), "{error}");
    assert!(!cache.blob_path(&pinned).exists());
}

#[test]
fn a_tampered_blob_is_an_error_on_every_use() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let mut source = FakeSource::new(&data);
    let blob = cache
        .fetch(&digest, None, "m@1", &mut source, &mut Silent)
        .unwrap();
    fs::write(&blob.path, b"evil").unwrap();
    let error = cache.get(&digest).unwrap_err();
    assert!(error.to_string().contains("tampered"), "{error}");
    let error = cache
        .copy_to(&digest, &dir.path().join("out.bin"))
        .unwrap_err();
    assert!(matches!(error, Error::Digest { .. }));
    assert!(!dir.path().join("out.bin").exists());
}

#[test]
fn concurrent_fetches_of_one_blob_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BlobCache::new(dir.path());
    let data = data();
    let digest = Digest::of(&data);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            let mut source = FakeSource::new(&data);
            std::thread::spawn(move || {
                cache
                    .fetch(&digest, None, "m@1", &mut source, &mut Silent)
                    .unwrap()
            })
        })
        .collect();
    for thread in threads {
        let blob = thread.join().unwrap();
        assert_eq!(fs::read(blob.path).unwrap(), data);
    }
    assert_eq!(cache.get(&digest).unwrap(), Some(cache.blob_path(&digest)));
}
