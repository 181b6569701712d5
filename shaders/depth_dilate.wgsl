// Depth edge dilation (--dilate PX, iw3's --edge-dilation): a separable max filter on the
// depth quantity, so foreground grows by PX pixels and thin foreground objects (poles,
// hair, fingers) are kept whole instead of being torn by their own disocclusions.
// Built twice (VERTICAL false / true); runs after depth_prep.wgsl. Unknown depth (< 0)
// stays unknown and never spreads.

override VERTICAL: bool = false;

@group(0) @binding(0) var<uniform> params: DepthParams;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var dilated_out: texture_storage_2d<r32float, write>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = params.out_size;
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    let p = vec2<i32>(id.xy);
    var best = textureLoad(source, p, 0).r;
    if (best >= 0.0) {
        let r = i32(select(params.dilate_px, params.dilate_y_px, VERTICAL));
        let step = select(vec2<i32>(1, 0), vec2<i32>(0, 1), VERTICAL);
        for (var k = -r; k <= r; k++) {
            let q = clamp(p + step * k, vec2<i32>(0), vec2<i32>(size) - 1);
            best = max(best, textureLoad(source, q, 0).r);
        }
    }
    textureStore(dilated_out, p, vec4<f32>(best, 0.0, 0.0, 0.0));
}
