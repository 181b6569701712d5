//! Models by name against a real HTTP server on 127.0.0.1 (tests/common/http.rs) serving
//! the tiny models through a user catalog: `models list/get/path`, an interrupted download
//! resumed with a range request, a checksum mismatch refused with nothing left behind,
//! `--depth-model NAME` downloading on first use only, and `--offline`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn stereosplat(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(common::bin());
    cmd.args(args).env("RUST_LOG", "info");
    // The server is local: no proxy may sit in between.
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    cmd.env_remove("STEREOSPLAT_OFFLINE")
        .env_remove("STEREOSPLAT_CATALOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn tiny() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-depth.onnx")).unwrap()
}

/// A user catalog of the tiny model under several names: `tiny` (checksum right),
/// `tiny-cut` (served by a path whose first transfer breaks off), `tiny-bad` (the
/// catalog's checksum is wrong) and `tiny-unverified` (no checksum).
fn catalog(dir: &Path, server: &common::http::Server) -> PathBuf {
    let bytes = tiny();
    let sum = sha256(&bytes);
    let entry = |name: &str, file: &str, url: String, sha: Option<&str>| {
        format!(
            "[[model]]\nname = \"{name}\"\ntask = \"depth\"\noutput = \"relative\"\n\
             licence = \"MIT\"\nurl = \"{url}\"\nfile = \"{file}\"\nsize = {}\n{}\n",
            bytes.len(),
            sha.map(|s| format!("sha256 = \"{s}\"")).unwrap_or_default()
        )
    };
    let wrong = "0".repeat(64);
    let text = [
        entry(
            "tiny",
            "tiny.onnx",
            server.file("tiny-depth.onnx", bytes.clone()),
            Some(&sum),
        ),
        entry(
            "tiny-cut",
            "cut.onnx",
            server.file("cut.onnx", bytes.clone()),
            Some(&sum),
        ),
        entry(
            "tiny-bad",
            "bad.onnx",
            server.file("bad.onnx", bytes.clone()),
            Some(&wrong),
        ),
        entry(
            "tiny-unverified",
            "unverified.onnx",
            server.file("u.onnx", bytes.clone()),
            None,
        ),
    ]
    .join("\n");
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn models_are_listed_fetched_verified_and_found() {
    let dir = common::work_dir("store_get");
    let server = common::http::Server::start();
    let cat = catalog(&dir, &server);
    let cache = dir.join("cache");
    let flags = |extra: &[&'static str]| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend([
            "--catalog".into(),
            s(&cat).into(),
            "--cache-dir".into(),
            s(&cache).into(),
        ]);
        v
    };
    let go =
        |args: Vec<String>| stereosplat(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);

    let r = go(flags(&["models", "list"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("tiny  [not downloaded]"), "{}", r.stdout);
    // The shipped catalog is there too, with its licences.
    assert!(
        r.stdout.contains("depth-anything-v2-small (default)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("non-commercial"), "{}", r.stdout);

    let r = go(flags(&["models", "get", "tiny"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let stored = cache.join("models/tiny.onnx");
    assert_eq!(r.stdout.trim(), s(&stored));
    assert_eq!(std::fs::read(&stored).unwrap(), tiny());
    assert!(r.stderr.contains("checksum verified"), "{}", r.stderr);
    let r = go(flags(&["models", "list"]));
    assert!(r.stdout.contains("tiny  [downloaded]"), "{}", r.stdout);
    let r = go(flags(&["models", "path", "tiny"]));
    assert_eq!(r.stdout.trim(), s(&stored));

    // A wrong checksum: refused, and nothing left, neither the file nor a part of it.
    let r = go(flags(&["models", "get", "tiny-bad"]));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("does not match the catalog's checksum"),
        "{}",
        r.stderr
    );
    let left: Vec<_> = std::fs::read_dir(cache.join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bad.onnx") && !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // No published checksum: downloaded, with the hash it got said out loud.
    let r = go(flags(&["models", "get", "tiny-unverified"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains(&sha256(&tiny())), "{}", r.stderr);

    let r = go(flags(&["models", "get", "tin"]));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("no model of that name") && r.stderr.contains("did you mean"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let dir = common::work_dir("store_resume");
    let server = common::http::Server::start();
    let cat = catalog(&dir, &server);
    let cache = dir.join("cache");
    let args = [
        "models",
        "get",
        "tiny-cut",
        "--catalog",
        s(&cat),
        "--cache-dir",
        s(&cache),
    ];
    server.cut_next("cut.onnx", 200);
    let r = stereosplat(&args, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("run the same command again to resume"),
        "{}",
        r.stderr
    );
    let part = cache.join("models/cut.onnx.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 200);
    assert!(
        !cache.join("models/cut.onnx").exists(),
        "no file under the final name"
    );

    let r = stereosplat(&args, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        std::fs::read(cache.join("models/cut.onnx")).unwrap(),
        tiny()
    );
    assert!(!part.exists());
    let ranges: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path == "/cut.onnx")
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=200-".to_string())]);
}

#[test]
fn a_depth_model_by_name_downloads_on_first_use_and_offline_says_how() {
    let dir = common::work_dir("store_first_use");
    let server = common::http::Server::start();
    let cat = catalog(&dir, &server);
    let cache = dir.join("cache");
    let img = dir.join("photo.png");
    common::write_png(&img, (56, 28), "RGBA", common::texture_rgba((56, 28), 3));
    let render = |out: &str, extra: &[&str], env: &[(&str, &str)]| {
        let out = dir.join(out);
        let mut args = vec!["render", s(&img), "-o"];
        let out_s = out.to_str().unwrap().to_owned();
        let mut v: Vec<String> = args.drain(..).map(String::from).collect();
        v.push(out_s);
        v.extend(
            [
                "--depth-model",
                "tiny",
                "--depth-size",
                "28",
                "--cache-dir",
                s(&cache),
            ]
            .map(String::from),
        );
        v.extend(extra.iter().map(|s| s.to_string()));
        stereosplat(&v.iter().map(String::as_str).collect::<Vec<_>>(), env)
    };
    let requests = || {
        server
            .seen()
            .iter()
            .filter(|s| s.path == "/tiny-depth.onnx")
            .count()
    };

    // Offline first: a clear error with the command, and no request made.
    let r = render("a.png", &["--catalog", s(&cat), "--offline"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("stereosplat models get tiny"),
        "{}",
        r.stderr
    );
    let r = render(
        "a.png",
        &[],
        &[
            ("STEREOSPLAT_OFFLINE", "1"),
            ("STEREOSPLAT_CATALOG", s(&cat)),
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("stereosplat models get tiny"),
        "{}",
        r.stderr
    );
    assert_eq!(requests(), 0);
    assert!(!dir.join("a.png").exists());

    let r = render("a.png", &["--catalog", s(&cat)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("downloading depth model tiny"),
        "{}",
        r.stderr
    );
    assert_eq!(requests(), 1);
    // The second time the model is there (and with it, offline works).
    let r = render("b.png", &["--catalog", s(&cat), "--offline"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("downloading"), "{}", r.stderr);
    assert_eq!(requests(), 1);
}

#[test]
fn downloads_go_through_https_proxy_except_for_no_proxy_hosts() {
    let dir = common::work_dir("store_proxy");
    let server = common::http::Server::start();
    let bytes = tiny();
    server.file("tiny-depth.onnx", bytes.clone());
    // A host that does not resolve: only the proxy can reach it.
    let cat = dir.join("catalog.toml");
    std::fs::write(
        &cat,
        format!(
            "[[model]]\nname = \"far\"\ntask = \"depth\"\noutput = \"relative\"\nlicence = \"MIT\"\n\
             url = \"http://models.stereosplat.invalid/tiny-depth.onnx\"\nfile = \"far.onnx\"\n\
             size = {}\nsha256 = \"{}\"\n\n\
             [[model]]\nname = \"near\"\ntask = \"depth\"\noutput = \"relative\"\nlicence = \"MIT\"\n\
             url = \"{}/tiny-depth.onnx\"\nfile = \"near.onnx\"\nsize = {}\nsha256 = \"{}\"\n",
            bytes.len(),
            sha256(&bytes),
            server.base,
            bytes.len(),
            sha256(&bytes)
        ),
    )
    .unwrap();
    let cache = dir.join("cache");
    let get = |name: &str, env: &[(&str, &str)]| {
        stereosplat(
            &[
                "models",
                "get",
                name,
                "--catalog",
                s(&cat),
                "--cache-dir",
                s(&cache),
            ],
            env,
        )
    };

    let r = get("far", &[("HTTPS_PROXY", &server.base)]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(std::fs::read(cache.join("models/far.onnx")).unwrap(), bytes);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].tunnel.as_deref(),
        Some("models.stereosplat.invalid:80")
    );

    // NO_PROXY names the local server: the dead proxy is never tried.
    let r = get(
        "near",
        &[
            ("HTTPS_PROXY", "http://127.0.0.1:9"),
            ("NO_PROXY", "127.0.0.1"),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        std::fs::read(cache.join("models/near.onnx")).unwrap(),
        bytes
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].tunnel, None);
}

#[test]
fn a_metric_catalog_model_with_relative_depth_is_refused_before_downloading() {
    let dir = common::work_dir("store_kind");
    let server = common::http::Server::start();
    let bytes = tiny();
    let url = server.file("metric.onnx", bytes.clone());
    let cat = dir.join("catalog.toml");
    std::fs::write(
        &cat,
        format!(
            "[[model]]\nname = \"metres\"\ntask = \"depth\"\noutput = \"metric\"\n\
             licence = \"MIT\"\nurl = \"{url}\"\nfile = \"metres.onnx\"\nsize = {}\n",
            bytes.len()
        ),
    )
    .unwrap();
    let img = dir.join("photo.png");
    common::write_png(&img, (56, 28), "RGBA", common::texture_rgba((56, 28), 3));
    let out = dir.join("out.png");
    let cache = dir.join("cache");
    let r = stereosplat(
        &[
            "render",
            s(&img),
            "-o",
            s(&out),
            "--depth-model",
            "metres",
            "--catalog",
            s(&cat),
            "--cache-dir",
            s(&cache),
        ],
        &[],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("metres outputs metric depth: pass --depth-kind metric"),
        "{}",
        r.stderr
    );
    assert!(
        server.seen().is_empty(),
        "nothing may be downloaded for a refused job"
    );
    assert!(!out.exists());
}
