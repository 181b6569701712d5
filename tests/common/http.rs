//! A small HTTP/1.1 file server on 127.0.0.1 for the download tests: GET with range
//! requests, a file that breaks off its first transfer partway (an interrupted download),
//! a log of every request it saw, and `CONNECT` tunnels, so that it can stand in for an
//! HTTP proxy as well (it then serves the tunnelled request itself).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request: its path, its Range header, if any, and the `host:port` of the CONNECT
/// tunnel it came through, if it came through one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub tunnel: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Paths whose next transfer stops after this many bytes (then they serve whole).
    cut_once: HashMap<String, usize>,
    seen: Vec<Seen>,
}

pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { base, state }
    }

    /// Serves `bytes` at `/name`.
    pub fn file(&self, name: &str, bytes: Vec<u8>) -> String {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(format!("/{name}"), bytes);
        format!("{}/{name}", self.base)
    }

    /// The next transfer of `/name` stops after `bytes` bytes.
    pub fn cut_next(&self, name: &str, bytes: usize) {
        self.state
            .lock()
            .unwrap()
            .cut_once
            .insert(format!("/{name}"), bytes);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    let Some((mut line, mut range)) = read_head(&mut reader) else {
        return;
    };
    let mut tunnel = None;
    if let Some(target) = line.strip_prefix("CONNECT ") {
        // Acting as a proxy: accept the tunnel, then answer what comes through it.
        tunnel = target.split_whitespace().next().map(str::to_owned);
        if out
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
        let Some(next) = read_head(&mut reader) else {
            return;
        };
        (line, range) = next;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (file, cut) = {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
            tunnel,
        });
        let cut = s.cut_once.remove(&path);
        (s.files.get(&path).cloned(), cut)
    };
    let Some(file) = file else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    if start > file.len() {
        let _ = out.write_all(
            b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let body = &file[start..];
    let head = if range.is_some() {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len(),
            file.len() - 1,
            file.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let _ = out.write_all(head.as_bytes());
    let send = cut.map_or(body.len(), |c| c.min(body.len()));
    let _ = out.write_all(&body[..send]);
    let _ = out.flush();
    // Dropping the stream closes the connection, short of what Content-Length promised
    // when the transfer was cut.
}

/// Reads a request line and its headers; returns the line and the Range header.
fn read_head(reader: &mut impl BufRead) -> Option<(String, Option<String>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    Some((line.trim_end().to_owned(), range))
}
