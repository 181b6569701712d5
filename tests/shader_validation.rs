//! Every shader file parses and validates with naga (as wgpu would), and the uniform
//! structs in shaders/common.wgsl have the sizes of their Rust twins in src/gpu/params.rs.

use stereosplat::gpu::params::{
    BandParams, ComposeParams, DepthParams, ModelInputParams, UnpackParams, WarpParams, YuvParams,
};
use stereosplat::gpu::shaders::{COMMON, FILES, with_prelude};

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
        assert!(
            m.entry_points
                .iter()
                .any(|e| e.name == "main" && e.stage == naga::ShaderStage::Compute),
            "{name} has no compute entry point `main`"
        );
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

#[test]
fn uniform_structs_match_their_rust_twins() {
    let (m, _) = module("common.wgsl", "");
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(m.to_ctx()).unwrap();
    let size_of = |name: &str| {
        let (handle, _) = m
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no struct {name} in common.wgsl"));
        layouter[handle].size as usize
    };
    assert_eq!(size_of("WarpParams"), std::mem::size_of::<WarpParams>());
    assert_eq!(size_of("BandParams"), std::mem::size_of::<BandParams>());
    assert_eq!(size_of("DepthParams"), std::mem::size_of::<DepthParams>());
    assert_eq!(
        size_of("ModelInputParams"),
        std::mem::size_of::<ModelInputParams>()
    );
    assert_eq!(
        size_of("ComposeParams"),
        std::mem::size_of::<ComposeParams>()
    );
    assert_eq!(size_of("YuvParams"), std::mem::size_of::<YuvParams>());
    assert_eq!(size_of("UnpackParams"), std::mem::size_of::<UnpackParams>());
}
