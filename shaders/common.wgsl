// Shared by every stereosplat shader: prepended to each file when it is loaded
// (see src/gpu/shaders.rs). Structs and constants have Rust twins in
// src/stereo/uniforms.rs; tests/shader_validation.rs checks that sizes, field offsets and
// values agree.

// Twin: stereo::uniforms::WarpParams.
struct WarpParams {
    size: vec2<u32>,
    // Horizontal shift of a source pixel in pixels: gain * (nearness - zero_nearness).
    shift_gain_px: f32,
    // Nearness at the screen plane (convergence); it does not move.
    zero_nearness: f32,
    // Neighbours warped further apart than this are different surfaces (a disocclusion).
    max_stretch_px: f32,
    // Maps the depth quantity (nearness, 1/metres or pixels) into 0..1 for z-buffer keys.
    key_scale: f32,
    // Neighbours whose depth quantity differs by more than this fraction of the nearer
    // one are different surfaces (edge removal); a huge value turns it off.
    edge_threshold: f32,
    // FILL_SCANLINE or FILL_BACKGROUND.
    fill_mode: u32,
    // --preserve-border: the shift eases to zero over this many pixels along the left and
    // right edges, so nothing sits in front of or behind the frame's edge there (0 = off).
    border_px: f32,
    _pad: u32,
}

// Twin: stereo::uniforms::BandParams. The rows of the frame one pass covers: the z-buffer
// holds one band of rows, so a frame whose whole z-buffer would be larger than the GPU's
// largest storage binding (128 MiB under Direct3D 12) is warped band after band. Passes
// index the z-buffer by the row within the band.
struct BandParams {
    first_row: u32,
    rows: u32,
    _pad: vec2<u32>,
}

const FILL_SCANLINE: u32 = 0u;
const FILL_BACKGROUND: u32 = 1u;
// "No pixel" in index buffers.
const NONE: u32 = 0xFFFFFFFFu;

const DEPTH_RELATIVE: u32 = 0u;
const DEPTH_METRIC: u32 = 1u;
const DEPTH_DISPARITY: u32 = 2u;

// Twin: stereo::uniforms::DepthParams.
struct DepthParams {
    out_size: vec2<u32>,
    raw_size: vec2<u32>,
    // Relative: raw depth (0..1 of the 16-bit range) maps to nearness
    // (raw - range_min) * range_scale.
    range_min: f32,
    range_scale: f32,
    // Relative: 1 when the raw value grows with distance (far = bright).
    far_is_bright: u32,
    // DEPTH_RELATIVE, DEPTH_METRIC or DEPTH_DISPARITY.
    kind: u32,
    // Metric: metres per 16-bit step; disparity: pixels per 16-bit step. 0 marks unknown.
    value_scale: f32,
    // Radius of the depth max filter (depth_dilate.wgsl) along x, in warp pixels; 0 = off.
    dilate_px: u32,
    // 1: the depth texture is the metric depth toolbox's RGB encoding (value R * 256 + B).
    rgb_encoded: u32,
    // The same radius along y (they differ when the warp runs at a squeezed size).
    dilate_y_px: u32,
    // Relative depth's shaping (shape_nearness below): a CURVE_* id, its parameter, and
    // the foreground scale.
    curve: u32,
    curve_k: f32,
    foreground_scale: f32,
    _pad: u32,
}

const CURVE_LINEAR: u32 = 0u;
const CURVE_GAMMA: u32 = 1u;
const CURVE_INVERSE: u32 = 2u;
const CURVE_SIGMOID: u32 = 3u;
const CURVE_SOFTPLUS: u32 = 4u;
// --foreground-scale leaves nearness below this in place.
const FOREGROUND_PIVOT: f32 = 0.5;

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// ln(1 + e^x) without overflow.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// --depth-curve then --foreground-scale on normalised nearness (0 far .. 1 near). Twin:
// stereo::shape::Shape::apply. Every curve is computed and one selected: this file's
// shaders stay branch-free (see depth_prep.wgsl).
fn shape_nearness(v: f32, p: DepthParams) -> f32 {
    let x = max(v, 0.0);
    let k = p.curve_k;
    // pow(0, k) is undefined in WGSL: 0 is selected for it.
    let gamma = select(0.0, pow(max(x, 1e-12), k), x > 0.0);
    let inverse = x * (1.0 + k) / (1.0 + x * k);
    let s_lo = sigmoid(-0.5 * k);
    let s_hi = sigmoid(0.5 * k);
    let sig = (sigmoid(k * (x - 0.5)) - s_lo) / (s_hi - s_lo);
    let sp_lo = softplus(-k);
    let sp = (softplus(k * (x - 1.0)) - sp_lo) / (log(2.0) - sp_lo);
    var y = x;
    y = select(y, gamma, p.curve == CURVE_GAMMA);
    y = select(y, inverse, p.curve == CURVE_INVERSE);
    y = select(y, sig, p.curve == CURVE_SIGMOID);
    y = select(y, sp, p.curve == CURVE_SOFTPLUS);
    let t = max(y - FOREGROUND_PIVOT, 0.0);
    return y + (p.foreground_scale - 1.0) * t * t / (2.0 * (1.0 - FOREGROUND_PIVOT));
}

// Twin: stereo::uniforms::ComposeParams.
struct ComposeParams {
    out_size: vec2<u32>,
    // Part of out_size that holds the picture; the rest (at most one column and one row,
    // added for 4:2:0 encoders) repeats the edge.
    content_size: vec2<u32>,
    eye_size: vec2<u32>,
    // --floating-window: black bands over the left eye's left edge (x) and the right eye's
    // right edge (y), as fractions of the picture's width.
    window: vec2<f32>,
    // Where the picture sits in each eye's region, as fractions (x0, y0, x1, y1); the rest
    // is black (--autocrop keeping the bars).
    picture: vec4<f32>,
    // Anaglyph: out.rgb = L * left rows + R * right rows (rows r, g, b as vec4, w unused).
    left_rows: array<vec4<f32>, 3>,
    right_rows: array<vec4<f32>, 3>,
    // VR180 (src/vr180.rs): the screen's half width and height as tangents (x, y), and 1
    // in z to stretch the picture over the whole half.
    vr: vec4<f32>,
}

// Z-buffer keys: the upper 18 bits hold the nearness (larger = nearer, so atomicMax keeps
// the nearest surface), the lower 14 bits the source column, so the resolve pass can
// recompute the exact sub-pixel sample that won. 0 means "nothing landed here".
const KEY_X_BITS: u32 = 14u;
const KEY_X_MASK: u32 = 0x3FFFu;
const KEY_NEAR_LEVELS: f32 = 262142.0;

fn pack_key(nearness: f32, source_x: u32, p: WarpParams) -> u32 {
    let q = u32(clamp(nearness * p.key_scale, 0.0, 1.0) * KEY_NEAR_LEVELS + 0.5) + 1u;
    return (q << KEY_X_BITS) | (source_x & KEY_X_MASK);
}

fn key_source_x(key: u32) -> u32 {
    return key & KEY_X_MASK;
}

// Where a source pixel lands on its row, in pixel-centre coordinates. `nearness` is the
// depth quantity of the clip's kind: relative nearness, 1/z for metric depth, or pixels.
// With --preserve-border the shift is weighted by border_weight.
fn warped_x(x: u32, nearness: f32, p: WarpParams) -> f32 {
    return f32(x) + p.shift_gain_px * (nearness - p.zero_nearness) * border_weight(x, p);
}

// 0 at the outermost columns, rising smoothly (smoothstep) to 1 at border_px from the
// edge; 1 everywhere when border_px is 0. Twin: cpu::border_weight.
fn border_weight(x: u32, p: WarpParams) -> f32 {
    let from_edge = f32(min(x, p.size.x - 1u - x));
    let t = clamp(from_edge / max(p.border_px, 1e-6), 0.0, 1.0);
    return select(t * t * (3.0 - 2.0 * t), 1.0, p.border_px <= 0.0);
}

// Two horizontally adjacent source pixels belong to one surface when neither has unknown
// depth (< 0), their order is kept (no fold-over), they do not stretch apart, and their
// depths do not jump (--edge-threshold; for 1/z this is the relative jump |dz|/z).
fn same_surface(n0: f32, n1: f32, p0: f32, p1: f32, p: WarpParams) -> bool {
    let stretch = p1 - p0;
    let jump = abs(n1 - n0) / max(max(n0, n1), 1e-20);
    return n0 >= 0.0 && n1 >= 0.0 && stretch > 0.0 && stretch <= p.max_stretch_px
        && jump <= p.edge_threshold;
}

// Twin: stereo::uniforms::MeshParams (see mesh.wgsl).
struct MeshParams {
    clip_from_source: mat4x4<f32>,
    size: vec2<u32>,
    step: u32,
    jump_floor: f32,
    focal: vec2<f32>,
    centre: vec2<f32>,
    inv_z: vec2<f32>,
    edge_threshold: f32,
    max_stretch: f32,
}

// Twin: stereo::uniforms::ModelInputParams.
struct ModelInputParams {
    src_size: vec2<u32>,
    dst_size: vec2<u32>,
    // Per channel: tensor = (rgb - mean) * inv_std (ImageNet for Depth-Anything).
    mean: vec4<f32>,
    inv_std: vec4<f32>,
    // Source pixels averaged per output pixel along each axis (area resampling).
    taps: vec2<u32>,
    // 1 when the previous frame's tensor is valid (depth_cues.wgsl's motion cue).
    has_prev: u32,
    _pad: u32,
}

// Twin: stereo::uniforms::YuvParams.
struct YuvParams {
    size: vec2<u32>,
    // Bytes between rows of the Y plane and of the U and V planes, and where U and V start
    // (GStreamer's default I420 layout: all multiples of 4).
    y_stride: u32,
    c_stride: u32,
    u_offset: u32,
    v_offset: u32,
    // Index of a scratch word past the planes (see yuv_pack.wgsl).
    scratch_word: u32,
    _pad: u32,
    // Rows of the RGB -> Y'CbCr matrix in 8-bit code values: xyz the weights, w the offset.
    y_row: vec4<f32>,
    cb_row: vec4<f32>,
    cr_row: vec4<f32>,
}

// Twin: stereo::uniforms::UnpackParams.
struct UnpackParams {
    size: vec2<u32>,
    // Byte offsets of the planes in `planes` and their bytes per row.
    y_offset: u32,
    u_offset: u32,
    v_offset: u32,
    y_stride: u32,
    c_stride: u32,
    // 1: U and V interleaved in one plane at u_offset (NV12, P010); 0: separate planes (I420).
    interleaved: u32,
    // Bytes per row of the V plane (I420; decoders may give U and V their own strides).
    v_stride: u32,
    // Bytes per sample: 1, or 2 for 10-bit I420 and P010 (little-endian u16).
    sample_bytes: u32,
    // 16-bit sample -> 8-bit code value: 1/4 for 10-bit I420 (0..1023), 1/256 for P010
    // (the 10 bits at the top).
    sample_scale: f32,
    _pad: u32,
    // Rows of the Y'CbCr (code values) -> R'G'B' (0..1) matrix: xyz weights, w offset.
    r_row: vec4<f32>,
    g_row: vec4<f32>,
    b_row: vec4<f32>,
}
