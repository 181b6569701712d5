// Hole filling, step 3 of 3, per pixel. Covered pixels pass through.
// FILL_SCANLINE: a hole takes the colour of the background-side pixel on its row.
// FILL_BACKGROUND (default): a hole blends, by inverse distance, the row's background
// pixel with the nearest covered pixels above and below that lie on that same background
// surface. Smooth across rows (no streaks), never takes foreground colour, and is a
// pure function of the frame, so a static scene gets a static fill.

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var warped: texture_2d<f32>;
@group(0) @binding(2) var warped_near: texture_2d<f32>;
// One band of rows (BandParams), indexed by the row within the band.
@group(0) @binding(3) var<storage, read> row_source: array<u32>;
// The whole frame.
@group(0) @binding(4) var column_source: texture_2d<u32>;
@group(0) @binding(5) var filled_out: texture_storage_2d<rgba8unorm, write>;
// Infill mask (the metric depth toolbox's convention): black where the view is known;
// in a hole run, red at the end next to the nearer surface, blue at the end next to the
// farther one, green inside.
@group(0) @binding(6) var mask_out: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(7) var<uniform> band: BandParams;

const NONE16: u32 = 0xFFFFu;
// How far (in z-buffer key units, 0..1) a vertical neighbour's depth may be from the
// row's background and still count as the same surface.
const BACKGROUND_TOLERANCE: f32 = 0.02;

// Written with one store per output and no branch on a uniform (params.fill_mode is a
// select): on lavapipe (Mesa 22.3) the earlier early-return form grew host memory every
// frame once the frame was read back. tests/soak.rs guards it.
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = params.size.x;
    if (id.x >= w || id.y >= band.rows) {
        return;
    }
    let x = id.x;
    let y = band.first_row + id.y;
    let here = textureLoad(warped, vec2<u32>(x, y), 0);
    let covered = here.a > 0.0;
    let src = row_source[id.y * w + x];

    var mask = vec3<f32>(0.0, 1.0, 0.0);
    let left_end = x > 0u && textureLoad(warped, vec2<u32>(x - 1u, y), 0).a > 0.0;
    let right_end = x + 1u < w && textureLoad(warped, vec2<u32>(x + 1u, y), 0).a > 0.0;
    if ((left_end && src != x - 1u) || (right_end && src != x + 1u)) {
        mask = vec3<f32>(1.0, 0.0, 0.0);
    } else if (left_end || right_end) {
        mask = vec3<f32>(0.0, 0.0, 1.0);
    }
    mask = select(mask, vec3<f32>(0.0), covered);

    // The row's background-side pixel: the scanline fill, and the first background tap.
    let has_src = src != NONE;
    let s = select(x, src, has_src);
    let row_colour = select(vec3<f32>(0.0), textureLoad(warped, vec2<u32>(s, y), 0).rgb, has_src);
    let n_bg = textureLoad(warped_near, vec2<u32>(s, y), 0).r;
    let row_weight = select(0.0, 1.0 / f32(max(max(x, s) - min(x, s), 1u)), has_src);
    var sum = row_colour * row_weight;
    var weight = row_weight;

    // Background: the nearest covered pixels above and below on the same surface.
    let packed = textureLoad(column_source, vec2<u32>(x, y), 0).r;
    for (var k = 0u; k < 2u; k++) {
        let yy = select(packed & NONE16, packed >> 16u, k == 0u);
        let found = yy != NONE16;
        let ys = select(y, yy, found);
        let n = textureLoad(warped_near, vec2<u32>(x, ys), 0).r;
        // Another surface (an occluder, or a farther one seen past the hole) is skipped.
        let same_surface = !has_src || abs(n - n_bg) * params.key_scale <= BACKGROUND_TOLERANCE;
        let wgt = select(0.0, 1.0 / f32(max(max(y, ys) - min(y, ys), 1u)), found && same_surface);
        sum += textureLoad(warped, vec2<u32>(x, ys), 0).rgb * wgt;
        weight += wgt;
    }
    let background = select(vec3<f32>(0.0), sum / max(weight, 1e-30), weight > 0.0);

    let fill = select(background, row_colour, params.fill_mode == FILL_SCANLINE);
    let colour = select(vec4<f32>(fill, 1.0), here, covered);
    textureStore(filled_out, vec2<u32>(x, y), colour);
    textureStore(mask_out, vec2<u32>(x, y), vec4<f32>(mask, 1.0));
}
