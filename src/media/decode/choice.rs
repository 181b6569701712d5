//! `--decoder`: which video decoders GStreamer's decodebin may pick, applied to this
//! process's plugin registry.

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::media::{self, MediaError};

#[derive(Debug, thiserror::Error)]
pub enum DecoderChoiceError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(
        "--decoder hardware: GStreamer has no hardware video decoder here (they come with \
         gstreamer1.0-plugins-bad's nvcodec / va plugins or gstreamer1.0-vaapi, and need the \
         GPU's driver); use --decoder auto"
    )]
    NoHardware,
}

/// `--decoder`: which video decoders GStreamer's decodebin may pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DecoderChoice {
    /// GStreamer's ranking: a hardware decoder first when one supports the stream.
    #[default]
    Auto,
    /// Software decoders only.
    Software,
    /// Hardware decoders only where one exists (an error when there is none at all).
    Hardware,
}

impl DecoderChoice {
    /// Applies the choice to this process's GStreamer registry (decoder ranks) and says
    /// which hardware decoders there are.
    pub fn apply(self) -> Result<(), DecoderChoiceError> {
        media::init()?;
        let hardware: Vec<gst::ElementFactory> = gst::ElementFactory::factories_with_type(
            gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
            gst::Rank::NONE,
        )
        .into_iter()
        .filter(|f| f.metadata("klass").is_some_and(|k| k.contains("Hardware")))
        .collect();
        let names: Vec<String> = hardware.iter().map(|f| f.name().to_string()).collect();
        match self {
            DecoderChoice::Auto => {
                if names.is_empty() {
                    log::info!("video decoding: software (GStreamer has no hardware decoder here)");
                } else {
                    log::info!(
                        "video decoding: hardware where supported ({})",
                        names.join(", ")
                    );
                }
            }
            DecoderChoice::Software => {
                for f in &hardware {
                    f.set_rank(gst::Rank::NONE);
                }
                log::info!("video decoding: software only");
            }
            DecoderChoice::Hardware => {
                if hardware.is_empty() {
                    return Err(DecoderChoiceError::NoHardware);
                }
                for f in &hardware {
                    f.set_rank(gst::Rank::PRIMARY + 100);
                }
                log::info!("video decoding: hardware first ({})", names.join(", "));
            }
        }
        Ok(())
    }
}
