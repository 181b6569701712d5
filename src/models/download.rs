//! Downloading one model file over HTTP(S) (`ureq`, rustls; `HTTPS_PROXY` and `NO_PROXY`
//! are honoured), into `<file>.part` beside the target:
//!
//! - an interrupted download is resumed with a range request where it stopped;
//! - the size and SHA-256 are checked before the file gets its final name (an atomic
//!   rename), so no partial or wrong model ever sits under that name;
//! - two processes fetching the same model take turns (an exclusive lock on
//!   `<file>.lock`); the second finds the file done.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::progress::Transfer;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error(
        "the download of {url} stopped after {got} of {} bytes ({message}); run the same \
         command again to resume it",
        total.map_or("?".to_string(), |t| t.to_string())
    )]
    Interrupted {
        url: String,
        got: u64,
        total: Option<u64>,
        message: String,
    },
    #[error(
        "{url} does not match the catalog's checksum: expected sha256 {expected}, got \
         {got}. The download was removed; try again, and if it keeps failing the file was \
         changed upstream (check the model card and the catalog entry)"
    )]
    Checksum {
        url: String,
        expected: String,
        got: String,
    },
    #[error("{url} is {got} bytes, the catalog says {expected}: the download was removed")]
    Size {
        url: String,
        expected: u64,
        got: u64,
    },
    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the finished file must be.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

/// Fetches `url` to `target` (resuming `<target>.part`); returns the file's SHA-256.
pub fn fetch(
    url: &str,
    target: &Path,
    expected: &Expected,
    progress: &mut dyn Transfer,
) -> Result<String, DownloadError> {
    let io = |context: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| DownloadError::Io {
            context,
            path,
            source,
        }
    };
    let lock_path = with_suffix(target, ".lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("cannot create", &lock_path))?;
    lock_exclusive(&lock, target);
    if target.is_file() {
        // Another process finished it while we waited.
        return hash_file(target).map_err(io("cannot read", target));
    }
    let part = with_suffix(target, ".part");
    let sha = download(url, &part, expected, progress)?;
    std::fs::rename(&part, target).map_err(io("cannot rename the finished download to", target))?;
    Ok(sha)
}

/// `<path><suffix>` (e.g. `model.onnx.part`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Waits for the exclusive lock on `lock` (held until the file is closed).
fn lock_exclusive(lock: &File, target: &Path) {
    use std::os::fd::AsRawFd;
    let fd = lock.as_raw_fd();
    // SAFETY: flock on a file descriptor this process owns for the call's duration.
    if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return;
    }
    log::info!(
        "waiting for another stereosplat downloading {}",
        target.display()
    );
    // SAFETY: as above, blocking this time.
    unsafe { libc::flock(fd, libc::LOCK_EX) };
}

fn agent() -> ureq::Agent {
    // The default agent reads HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY.
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        // A stalled transfer fails (and resumes on the next run) instead of hanging.
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Downloads into `part`, resuming what it holds, and checks the result.
fn download(
    url: &str,
    part: &Path,
    expected: &Expected,
    progress: &mut dyn Transfer,
) -> Result<String, DownloadError> {
    let http = |message: String| DownloadError::Http {
        url: url.to_owned(),
        message,
    };
    let io = |context: &'static str| {
        let path = part.to_path_buf();
        move |source| DownloadError::Io {
            context,
            path,
            source,
        }
    };
    let mut have = std::fs::metadata(part).map_or(0, |m| m.len());
    if expected.size.is_some_and(|s| have > s) {
        have = 0;
    }
    let agent = agent();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| http(e.to_string()))?;
    let status = response.status().as_u16();
    let resumed = match status {
        206 if content_range_start(&response) == Some(have) => true,
        200 | 206 => false,
        416 if have > 0 => {
            // The part may already be whole; checked below like any download.
            return finish(url, part, expected, have);
        }
        _ => {
            return Err(http(format!(
                "the server answered HTTP {status}{}",
                if status == 404 {
                    " (not found: the catalog's URL is out of date)"
                } else {
                    ""
                }
            )));
        }
    };
    let start = if resumed { have } else { 0 };
    let total = content_length(&response)
        .map(|n| n + start)
        .or(expected.size);
    if resumed {
        log::info!("resuming the download at {start} bytes");
    }
    let mut file = File::options()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(io("cannot write"))?;
    progress.start(total, start);
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                progress.finish();
                return Err(DownloadError::Interrupted {
                    url: url.to_owned(),
                    got,
                    total,
                    message: e.to_string(),
                });
            }
        };
        file.write_all(&buf[..n]).map_err(io("cannot write"))?;
        got += n as u64;
        progress.advance(got);
    }
    progress.finish();
    file.sync_all().map_err(io("cannot write"))?;
    if total.is_some_and(|t| got < t) {
        return Err(DownloadError::Interrupted {
            url: url.to_owned(),
            got,
            total,
            message: "the connection closed early".into(),
        });
    }
    finish(url, part, expected, got)
}

/// Checks the finished `part` against `expected`; a wrong file is removed.
fn finish(url: &str, part: &Path, expected: &Expected, size: u64) -> Result<String, DownloadError> {
    if let Some(want) = expected.size
        && want != size
    {
        let _ = std::fs::remove_file(part);
        return Err(DownloadError::Size {
            url: url.to_owned(),
            expected: want,
            got: size,
        });
    }
    let got = hash_file(part).map_err(|source| DownloadError::Io {
        context: "cannot read",
        path: part.to_path_buf(),
        source,
    })?;
    if let Some(want) = &expected.sha256
        && !want.eq_ignore_ascii_case(&got)
    {
        let _ = std::fs::remove_file(part);
        return Err(DownloadError::Checksum {
            url: url.to_owned(),
            expected: want.to_ascii_lowercase(),
            got,
        });
    }
    Ok(got)
}

/// The SHA-256 of a file, as lowercase hexadecimal.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn content_length(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    response
        .headers()
        .get("content-length")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The first byte of a 206 response (`Content-Range: bytes START-END/TOTAL`).
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let v = response.headers().get("content-range")?.to_str().ok()?;
    let range = v.trim().strip_prefix("bytes")?.trim();
    range.split('-').next()?.trim().parse().ok()
}
