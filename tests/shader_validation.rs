//! Every shader file parses and validates with naga (as wgpu would); the uniform structs
//! in shaders/common.wgsl have the sizes and field offsets of their Rust twins in
//! src/stereo/uniforms.rs; the constants the CPU warp shares with the shaders have the
//! same values on both sides, and the layout ids match compose.wgsl's.

use std::mem::offset_of;

use stereosplat::gpu::shaders::{COMMON, FILES, with_prelude};
use stereosplat::layout::Layout;
use stereosplat::stereo::uniforms::{
    BandParams, ComposeParams, DepthParams, MeshParams, ModelInputParams, SHADER_CONSTANTS,
    UnpackParams, WarpParams, YuvParams,
};

fn module(name: &str, body: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let source = with_prelude(COMMON.1, body);
    let module = naga::front::wgsl::parse_str(&source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(&source)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(&source)));
    (module, info)
}

#[test]
fn every_shader_file_validates() {
    assert!(FILES.len() >= 5, "shader list shrank");
    for (name, body) in FILES {
        let (m, _) = module(name, body);
        let has = |entry: &str, stage| {
            m.entry_points
                .iter()
                .any(|e| e.name == entry && e.stage == stage)
        };
        if *name == "mesh.wgsl" {
            // The one render pipeline: the frame drawn as a mesh (--layout novel, 3D view).
            assert!(
                has("vs_main", naga::ShaderStage::Vertex)
                    && has("fs_main", naga::ShaderStage::Fragment),
                "{name} has no vs_main and fs_main"
            );
        } else {
            assert!(
                has("main", naga::ShaderStage::Compute),
                "{name} has no compute entry point `main`"
            );
        }
    }
}

#[test]
fn the_shader_folder_holds_exactly_the_embedded_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = FILES
        .iter()
        .map(|(n, _)| n.to_string())
        .chain([COMMON.0.to_string()])
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}

/// (field, offset) of a Rust uniform struct, for every field.
macro_rules! fields {
    ($t:ty: $($f:ident),+ $(,)?) => {
        (std::mem::size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),+])
    };
}

#[test]
fn uniform_structs_match_their_rust_twins() {
    let (m, _) = module("common.wgsl", "");
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(m.to_ctx()).unwrap();
    let twins = [
        (
            "WarpParams",
            fields!(WarpParams: size, shift_gain_px, zero_nearness, max_stretch_px, key_scale,
                edge_threshold, fill_mode, border_px, _pad),
        ),
        ("BandParams", fields!(BandParams: first_row, rows, _pad)),
        (
            "DepthParams",
            fields!(DepthParams: out_size, raw_size, range_min, range_scale, far_is_bright,
                kind, value_scale, dilate_px, rgb_encoded, dilate_y_px, curve, curve_k,
                foreground_scale, _pad),
        ),
        (
            "ComposeParams",
            fields!(ComposeParams: out_size, content_size, eye_size, window, picture, left_rows,
                right_rows, vr),
        ),
        (
            "MeshParams",
            fields!(MeshParams: clip_from_source, size, step, jump_floor, focal, centre, inv_z,
                edge_threshold, max_stretch),
        ),
        (
            "ModelInputParams",
            fields!(ModelInputParams: src_size, dst_size, mean, inv_std, taps, has_prev, _pad),
        ),
        (
            "YuvParams",
            fields!(YuvParams: size, y_stride, c_stride, u_offset, v_offset, scratch_word, _pad,
                y_row, cb_row, cr_row),
        ),
        (
            "UnpackParams",
            fields!(UnpackParams: size, y_offset, u_offset, v_offset, y_stride, c_stride,
                interleaved, v_stride, sample_bytes, sample_scale, _pad, r_row, g_row, b_row),
        ),
    ];
    for (name, (rust_size, rust_fields)) in twins {
        let (handle, ty) = m
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no struct {name} in common.wgsl"));
        assert_eq!(layouter[handle].size as usize, rust_size, "size of {name}");
        let naga::TypeInner::Struct { members, .. } = &ty.inner else {
            panic!("{name} is not a struct");
        };
        let wgsl: Vec<(String, usize)> = members
            .iter()
            .map(|mb| (mb.name.clone().unwrap_or_default(), mb.offset as usize))
            .collect();
        let rust: Vec<(String, usize)> = rust_fields
            .into_iter()
            .map(|(f, o)| (f.to_string(), o))
            .collect();
        assert_eq!(wgsl, rust, "fields and offsets of {name}");
    }
}

/// The value of `const name` in a shader file, as naga evaluates it.
fn wgsl_constant(module: &naga::Module, name: &str) -> Option<f64> {
    let (_, c) = module
        .constants
        .iter()
        .find(|(_, c)| c.name.as_deref() == Some(name))?;
    match module.global_expressions[c.init] {
        naga::Expression::Literal(lit) => Some(match lit {
            naga::Literal::U32(v) => f64::from(v),
            naga::Literal::I32(v) => f64::from(v),
            naga::Literal::F32(v) => f64::from(v),
            naga::Literal::AbstractInt(v) => v as f64,
            naga::Literal::AbstractFloat(v) => v,
            other => panic!("{name}: unexpected literal {other:?}"),
        }),
        ref other => panic!("{name}: not a literal ({other:?})"),
    }
}

#[test]
fn shared_constants_have_the_same_values_in_rust_and_wgsl() {
    for (file, name, value) in SHADER_CONSTANTS {
        let body = if *file == "common.wgsl" {
            ""
        } else {
            FILES
                .iter()
                .find(|(n, _)| n == file)
                .unwrap_or_else(|| panic!("no shader {file}"))
                .1
        };
        let (m, _) = module(file, body);
        let wgsl = wgsl_constant(&m, name).unwrap_or_else(|| panic!("no const {name} in {file}"));
        // f32 constants compare at f32 precision.
        assert!(
            (wgsl - value).abs() <= value.abs() * 1e-7,
            "{file} {name}: WGSL {wgsl}, Rust {value}"
        );
    }
    // Every constant of common.wgsl is one the Rust side knows (a new one cannot drift
    // unnoticed).
    let (m, _) = module("common.wgsl", "");
    for (_, c) in m.constants.iter() {
        let name = c.name.as_deref().unwrap_or_default();
        assert!(
            SHADER_CONSTANTS
                .iter()
                .any(|(f, n, _)| *f == "common.wgsl" && *n == name),
            "common.wgsl's {name} has no Rust twin in stereo::uniforms::SHADER_CONSTANTS"
        );
    }
    // The compose pass's layout ids are Layout::shader_id's.
    let compose = FILES.iter().find(|(n, _)| *n == "compose.wgsl").unwrap().1;
    let (m, _) = module("compose.wgsl", compose);
    for layout in Layout::ALL {
        let name = format!(
            "LAYOUT_{}",
            stereosplat::cli::value_name(&layout)
                .to_uppercase()
                .replace('-', "_")
        );
        assert_eq!(
            wgsl_constant(&m, &name),
            Some(f64::from(layout.shader_id())),
            "{name}"
        );
    }
}
