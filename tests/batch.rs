//! `stereosplat batch` on a generated folder: depth paired beside the input, in
//! --depth-dir and in sub-folders; depth files never converted; a broken file with and
//! without --skip-error; the JSON report; --resume; shards that split the work exactly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn clip(dir: &Path, name: &str, depth_dir: &Path) {
    // Unique per test: tests run in parallel.
    let tag = dir.to_string_lossy().replace(['/', '\\'], "_");
    let tmp = common::work_dir(&format!("batch_src_{tag}_{name}"));
    stereosplat::media::synth::write_sample(&tmp, (64, 36), 6, 24).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::create_dir_all(depth_dir).unwrap();
    std::fs::rename(tmp.join("sample.mp4"), dir.join(format!("{name}.mp4"))).unwrap();
    std::fs::rename(
        tmp.join("sample_depth.mkv"),
        depth_dir.join(format!("{name}_depth.mkv")),
    )
    .unwrap();
}

/// in/clip1.mp4 (+ depth beside), in/clip2.mp4 (depth in depth/), in/sub/clip3.mp4
/// (depth in depth/sub/), in/bad.mp4 (text).
fn folder(root: &Path) -> (PathBuf, PathBuf) {
    let input = root.join("in");
    let depth = root.join("depth");
    clip(&input, "clip1", &input);
    clip(&input, "clip2", &depth);
    clip(&input.join("sub"), "clip3", &depth.join("sub"));
    std::fs::write(input.join("bad.mp4"), "not a video\n".repeat(50)).unwrap();
    (input, depth)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn batch(input: &Path, depth: &Path, out: &Path, extra: &[&str]) -> Run {
    let o = Command::new(common::bin())
        .args(["batch", "--input-dir"])
        .arg(input)
        .arg("--depth-dir")
        .arg(depth)
        .arg("--output-dir")
        .arg(out)
        .args([
            "--recursive",
            "--layout",
            "half-sbs",
            "--speed-preset",
            "ultrafast",
        ])
        .args(extra)
        .output()
        .unwrap();
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn outputs(out: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p.strip_prefix(out).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_folder_converts_reports_and_resumes() {
    let root = common::work_dir("batch_folder");
    let (input, depth) = folder(&root);
    let out = root.join("out");
    let report = root.join("report.json");
    let r = batch(
        &input,
        &depth,
        &out,
        &["--skip-error", "--report", report.to_str().unwrap()],
    );
    assert_eq!(
        r.code,
        Some(1),
        "a failed file makes the exit code 1\n{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stdout.contains("3 done, 0 skipped, 1 failed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("bad.mp4"), "{}", r.stdout);
    assert_eq!(
        outputs(&out),
        [
            "clip1_splatted.mp4",
            "clip2_splatted.mp4",
            "sub/clip3_splatted.mp4"
        ],
        "depth files are never converted; sub-folders are mirrored"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        (json["done"].as_u64(), json["failed"].as_u64()),
        (Some(3), Some(1))
    );
    let bad = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "failed")
        .unwrap();
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("not a video or image"),
        "{bad}"
    );
    let good = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "done")
        .unwrap();
    assert_eq!(good["frames"].as_u64(), Some(6));
    // Each done file carries its comfort summary: the default strength (20 px around
    // nearness 0.5) spans at most +-20 px.
    let comfort = &good["comfort"];
    let near = comfort["near_px"].as_f64().unwrap();
    assert!(near > 0.0 && near <= 20.0 + 1e-3, "{comfort}");
    assert!(comfort["all_ok"].as_f64().is_some(), "{comfort}");
    assert!(bad["comfort"].is_null());

    // --resume: finished outputs are kept as they are.
    let before = std::fs::metadata(out.join("clip1_splatted.mp4"))
        .unwrap()
        .modified()
        .unwrap();
    let r = batch(&input, &depth, &out, &["--skip-error", "--resume"]);
    assert!(
        r.stdout.contains("0 done, 3 skipped, 1 failed"),
        "{}",
        r.stdout
    );
    let after = std::fs::metadata(out.join("clip1_splatted.mp4"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "--resume must not rewrite finished outputs");

    // Without --skip-error the batch stops at the first failure (bad.mp4 sorts first).
    let out2 = root.join("out2");
    let r = batch(&input, &depth, &out2, &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout.contains("0 done, 0 skipped, 1 failed"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("--skip-error"),
        "the message should say how to go on: {}",
        r.stderr
    );
    assert!(outputs(&out2).is_empty());
}

#[test]
fn shards_split_the_folder_without_overlap() {
    let root = common::work_dir("batch_shards");
    let (input, depth) = folder(&root);
    std::fs::remove_file(input.join("bad.mp4")).unwrap();
    let mut all = Vec::new();
    for i in 0..2 {
        let out = root.join(format!("out{i}"));
        let r = batch(&input, &depth, &out, &["--shard", &format!("{i}/2")]);
        assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
        all.extend(outputs(&out));
    }
    all.sort();
    assert_eq!(
        all,
        [
            "clip1_splatted.mp4",
            "clip2_splatted.mp4",
            "sub/clip3_splatted.mp4"
        ]
    );
    let r = batch(&input, &depth, &root.join("x"), &["--shard", "2/2"]);
    assert_eq!(
        r.code,
        Some(2),
        "a bad shard is a usage error: {}",
        r.stderr
    );
}

#[test]
fn a_batch_in_place_never_converts_its_own_outputs() {
    // Outputs beside their inputs (--output-dir = --input-dir), and outputs in a folder
    // inside the input folder with --recursive: a second run gives what the first gave,
    // never <stem>_splatted_splatted, and says what it left out.
    let root = common::work_dir("batch_in_place");
    let (input, depth) = folder(&root);
    std::fs::remove_file(input.join("bad.mp4")).unwrap();
    let mut before_second = Vec::new();
    for run in 0..2 {
        let r = batch(&input, &depth, &input, &["--name-tags"]);
        assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("3 done, 0 skipped, 0 failed"),
            "{}",
            r.stdout
        );
        let files = outputs(&input);
        if run == 0 {
            before_second = files;
        } else {
            assert_eq!(files, before_second, "the second run changed the folder");
            assert!(
                r.stderr.contains("left out 4 file(s)")
                    && r.stderr.contains("3 named as this tool's outputs"),
                "{}",
                r.stderr
            );
        }
    }
    assert_eq!(
        before_second,
        [
            "clip1.mp4",
            "clip1_depth.mkv",
            "clip1_splatted_LR.mp4",
            "clip2.mp4",
            "clip2_splatted_LR.mp4",
            "sub/clip3.mp4",
            "sub/clip3_splatted_LR.mp4"
        ]
    );
    // --resume in place skips the finished outputs, and still converts no output.
    let r = batch(&input, &depth, &input, &["--name-tags", "--resume"]);
    assert!(
        r.stdout.contains("0 done, 3 skipped, 0 failed"),
        "{}",
        r.stdout
    );

    // The output folder inside the input folder is left out as a whole.
    let nested = input.join("converted");
    for _ in 0..2 {
        let r = batch(&input, &depth, &nested, &[]);
        assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("3 done"), "{}", r.stdout);
    }
    assert_eq!(
        outputs(&nested),
        [
            "clip1_splatted.mp4",
            "clip2_splatted.mp4",
            "sub/clip3_splatted.mp4"
        ]
    );
}

#[test]
fn a_batch_warns_once_about_missing_depth() {
    let root = common::work_dir("batch_warn_once");
    let input = root.join("in");
    clip(&input, "a", &root.join("nodepth"));
    clip(&input, "b", &root.join("nodepth"));
    let o = Command::new(common::bin())
        .args(["batch", "--input-dir"])
        .arg(&input)
        .arg("--output-dir")
        .arg(root.join("out"))
        .args(["--no-cache", "--speed-preset", "ultrafast"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.matches("built-in depth estimate").count(), 1, "{err}");
    assert!(err.contains("2 of 2 file(s) have no depth file"), "{err}");
}
