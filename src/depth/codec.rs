//! The metric depth toolbox's RGB encoding of metric depth (../shared/docs/SPEC.md
//! section 2): E = floor(clamp(z, 0, maxD) * 255^4 / maxD); R = G = E >> 24,
//! B = (E >> 16) & 255. Only R and B carry information: 16 bits, read back as
//! z = (R * 2^24 + B * 2^16) * maxD / 255^4. Stored lossless (FFV1 in MKV).

/// 255^4, the full scale of E.
const FULL: f64 = 255.0 * 255.0 * 255.0 * 255.0;

/// Encodes a distance in metres as the toolbox's (R, G, B).
pub fn rgb_from_metric(z_m: f64, max_depth_m: f64) -> [u8; 3] {
    let e = (z_m.clamp(0.0, max_depth_m) * FULL / max_depth_m).floor() as u64;
    let r = (e >> 24).min(255) as u8;
    let b = ((e >> 16) & 255) as u8;
    [r, r, b]
}

/// Decodes the toolbox's (R, G, B) into metres. Values the encoder never writes (R above
/// 252, from another tool or a damaged file) would decode past max_depth; they clamp to it.
pub fn metric_from_rgb([r, _, b]: [u8; 3], max_depth_m: f64) -> f64 {
    ((f64::from(r) * 16_777_216.0 + f64::from(b) * 65_536.0) * max_depth_m / FULL).min(max_depth_m)
}

/// The same decoding on the 16-bit value R * 256 + B that the GPU reads: metres per step.
pub fn metres_per_rgb_step(max_depth_m: f64) -> f64 {
    65_536.0 * max_depth_m / FULL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        // SPEC 2: z = 50, maxD = 100 -> R = G = 126, B = 2.
        assert_eq!(rgb_from_metric(50.0, 100.0), [126, 126, 2]);
    }

    #[test]
    fn round_trip_error_is_below_one_step() {
        // 0 <= z - decode(encode(z)) < 65536 * maxD / 255^4
        for max in [20.0, 100.0] {
            let step = metres_per_rgb_step(max);
            for i in 0..=20_000 {
                let z = max * f64::from(i) / 20_000.0 * 0.999;
                let err = z - metric_from_rgb(rgb_from_metric(z, max), max);
                assert!(
                    (0.0..step).contains(&err),
                    "z {z} max {max}: error {err} (step {step})"
                );
            }
        }
    }
}
