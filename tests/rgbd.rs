//! `--layout rgbd` and `half-rgbd` (issue #24): the input on the left and the depth in
//! use on the right, as grey with near bright, through the command line.

mod common;

use std::process::Command;

fn render(args: &[&str]) {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn rgbd_puts_the_input_beside_its_depth_in_use() {
    let (w, h) = (120u32, 64u32);
    let dir = common::work_dir("rgbd");
    let photo = dir.join("photo.png");
    let pixels = common::texture_rgba((w, h), 11);
    common::write_png(&photo, (w, h), "RGBA", pixels.clone());
    // Depth rising across the frame from 10000 to 60000: relative depth is normalised
    // over the clip, so the grey is (v - 10000) / 50000 of full scale.
    let raw = |x: u32| 10_000 + (50_000 * x) / (w - 1);
    let bytes = (0..h)
        .flat_map(|_| (0..w).map(|x| (raw(x) as u16).to_be_bytes()))
        .flatten()
        .collect();
    common::write_png(&dir.join("photo_depth.png"), (w, h), "GRAY16_BE", bytes);
    let grey = |x: u32| (f64::from(raw(x) - 10_000) / 50_000.0 * 255.0).round() as i32;

    let out = dir.join("rgbd.png");
    let (p, o) = (photo.to_str().unwrap(), out.to_str().unwrap());
    render(&["render", p, "-o", o, "--layout", "rgbd"]);
    let (img, ow, oh) = common::read_rgba(&out);
    assert_eq!((ow, oh), (2 * w, h));
    for y in 0..h {
        for x in 0..w {
            let at = |x: u32| ((y * ow + x) * 4) as usize;
            let src = ((y * w + x) * 4) as usize;
            for c in 0..3 {
                let d = i32::from(img[at(x) + c]) - i32::from(pixels[src + c]);
                assert!(d.abs() <= 1, "colour at ({x}, {y}) differs by {d}");
                let g = i32::from(img[at(w + x) + c]);
                assert!(
                    (g - grey(x)).abs() <= 1,
                    "depth at ({x}, {y}): {g} against {}",
                    grey(x)
                );
            }
        }
    }

    // Half width: each half squeezed, the depth averaged over the pairs it covers.
    let out = dir.join("half.png");
    render(&[
        "render",
        p,
        "-o",
        out.to_str().unwrap(),
        "--layout",
        "half-rgbd",
    ]);
    let (img, ow, oh) = common::read_rgba(&out);
    assert_eq!((ow, oh), (w, h));
    let half = w / 2;
    for x in 0..half {
        let g = i32::from(img[(((h / 2) * ow + half + x) * 4) as usize]);
        let want = (grey(2 * x) + grey(2 * x + 1)) as f64 / 2.0;
        assert!(
            (f64::from(g) - want).abs() <= 1.0,
            "half depth at {x}: {g} against {want}"
        );
    }
}
