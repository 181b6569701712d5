//! Where a render's time goes: the render loop's waits by stage ([`StageTimes`], logged
//! after every render) and the same waits as trace spans for `--trace`.

use std::time::Instant;

use crate::trace::Span;

/// The render loop's waits as trace spans, when `--trace` asks for them.
pub(super) struct Spans {
    origin: Instant,
    pub list: Option<Vec<Span>>,
}

impl Spans {
    /// Spans timed from `origin`; kept only when `keep` (a trace is written).
    pub fn new(origin: Instant, keep: bool) -> Self {
        Self {
            origin,
            list: keep.then(Vec::new),
        }
    }

    pub fn add(&mut self, name: &'static str, from: Instant, to: Instant) {
        if let Some(list) = &mut self.list {
            list.push(Span {
                name,
                start: from.duration_since(self.origin).as_secs_f64(),
                secs: to.duration_since(from).as_secs_f64(),
            });
        }
    }
}

/// Where the render loop's time went, seen from its thread: waiting for decoded frames,
/// reading depth, uploading and recording GPU work, waiting for the GPU's result, and
/// handing frames to the encoder (which waits when x264 is behind). The stage that
/// dominates is the one that sets the speed.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Waiting, before the first frame, for the depth scan to finish (none when it came
    /// from the cache): the one part a re-render of the clip does not pay.
    pub scan: f64,
    pub decoder: f64,
    pub depth: f64,
    /// `--warp-device cpu`: warping and composing (on the CPU warp's threads, alongside
    /// the loop), and the loop waiting to queue a frame for it.
    pub cpu_warp: f64,
    pub cpu_wait: f64,
    pub gpu_submit: f64,
    pub gpu_wait: f64,
    pub encoder: f64,
}

impl std::fmt::Display for StageTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.scan >= 0.005 {
            write!(f, "waiting for the depth scan {:.2} s, ", self.scan)?;
        }
        write!(
            f,
            "waiting for decoded frames {:.2} s, depth {:.2} s, ",
            self.decoder, self.depth
        )?;
        if self.cpu_warp > 0.0 {
            write!(
                f,
                "CPU warp+compose {:.2} s (on its thread), waiting to queue frames for it {:.2} s, ",
                self.cpu_warp, self.cpu_wait
            )?;
        } else {
            write!(
                f,
                "GPU upload+submit {:.2} s, waiting for the GPU {:.2} s, ",
                self.gpu_submit, self.gpu_wait
            )?;
        }
        write!(f, "handing to the encoder {:.2} s", self.encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::StageTimes;

    #[test]
    fn the_scan_wait_is_shown_only_when_a_render_paid_for_it() {
        let cached = StageTimes {
            decoder: 0.07,
            cpu_warp: 9.2,
            ..Default::default()
        };
        let first = StageTimes {
            scan: 0.37,
            ..cached
        };
        assert!(
            first.to_string().starts_with(
                "waiting for the depth scan 0.37 s, waiting for decoded frames 0.07 s"
            )
        );
        assert!(
            cached
                .to_string()
                .starts_with("waiting for decoded frames 0.07 s")
        );
    }
}
