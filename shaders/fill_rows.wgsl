// Hole filling, step 1 of 3: one invocation per row, two linear sweeps. For every hole
// pixel, finds the nearest covered pixels on its left and right and keeps the one on the
// background side (the farther surface): the foreground that caused the disocclusion is
// never a source. Writes that column index (or NONE) to `row_source`.
// O(width) per row whatever the holes look like. `row_source` (the z-buffer, free after
// the resolve) holds one band of rows. Next: fill_columns.wgsl, fill_resolve.wgsl.

@group(0) @binding(0) var<uniform> params: WarpParams;
@group(0) @binding(1) var warped: texture_2d<f32>;
@group(0) @binding(2) var warped_near: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> row_source: array<u32>;
@group(0) @binding(4) var<uniform> band: BandParams;

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = params.size.x;
    if (id.x >= band.rows) {
        return;
    }
    let y = band.first_row + id.x;
    let row = id.x * w;
    // Right-to-left: nearest covered pixel on the right, parked in row_source.
    var right = NONE;
    for (var i = 0u; i < w; i++) {
        let x = w - 1u - i;
        if (textureLoad(warped, vec2<u32>(x, y), 0).a > 0.0) {
            right = x;
        }
        row_source[row + x] = right;
    }
    // Left-to-right: choose the background side.
    var left = NONE;
    for (var x = 0u; x < w; x++) {
        if (textureLoad(warped, vec2<u32>(x, y), 0).a > 0.0) {
            left = x;
            row_source[row + x] = x;
            continue;
        }
        let r = row_source[row + x];
        var src = left;
        if (left == NONE) {
            src = r;
        } else if (r != NONE) {
            let nl = textureLoad(warped_near, vec2<u32>(left, y), 0).r;
            let nr = textureLoad(warped_near, vec2<u32>(r, y), 0).r;
            src = select(r, left, nl <= nr);
        }
        row_source[row + x] = src;
    }
}
