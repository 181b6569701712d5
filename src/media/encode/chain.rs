//! Building the encode pipeline of `Encoder::open`: the video source (raw frames from a
//! buffer pool), the still or video branch to the file, and the audio branch.

use std::path::Path;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::codec::{Codec, encoder_branch};
use super::{Container, EncodeError, EncodeSettings, FrameInput};
use crate::frame::{I420Layout, YuvMatrix};
use crate::layout::Layout;
use crate::media::{self, MediaError};

/// Frames the queue before the video encoder holds (see `Encoder::open`).
const ENCODER_QUEUE_FRAMES: u32 = 16;

/// What the video source takes for a file of `container` at `size`: videos take 8-bit
/// I420 from the GPU when 4:2:0 fits the size. Stills, and 10-bit output (converted from
/// RGBA straight to 10 bits, which keeps the precision 10-bit exists for), take RGBA.
pub(super) fn input_for(
    container: Container,
    settings: &EncodeSettings,
    size: (u32, u32),
) -> FrameInput {
    if settings.hdr.is_some() && settings.bit_depth == 10 && !container.is_still() {
        FrameInput::HalfFloat
    } else if container.is_still() || settings.bit_depth == 10 || size.0 % 2 == 1 || size.1 % 2 == 1
    {
        FrameInput::Rgba
    } else {
        FrameInput::I420(settings.matrix.unwrap_or(YuvMatrix::for_height(size.1)))
    }
}

/// The appsrc frames enter by, and the pool of buffers they are written into.
pub(super) fn video_source(
    size: (u32, u32),
    fps: Option<gst::Fraction>,
    settings: &EncodeSettings,
    input: FrameInput,
) -> Result<(gst_app::AppSrc, gst::BufferPool), MediaError> {
    let gst_err = |e: gst::glib::BoolError| MediaError::Other(e.to_string());
    let video_info = match input {
        FrameInput::Rgba => {
            gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, size.0, size.1)
        }
        FrameInput::HalfFloat => {
            gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba64Le, size.0, size.1)
        }
        FrameInput::I420(matrix) => {
            let colorimetry: gst_video::VideoColorimetry =
                matrix.colorimetry().parse().map_err(gst_err)?;
            gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, size.0, size.1)
                .colorimetry(&colorimetry)
        }
    }
    .fps(fps.unwrap_or_else(|| gst::Fraction::new(0, 1)))
    .par(gst::Fraction::new(
        settings.pixel_aspect.0.max(1),
        settings.pixel_aspect.1.max(1),
    ))
    .build()
    .map_err(gst_err)?;
    if let FrameInput::I420(_) = input {
        check_i420_layout(&video_info, size)?;
    }
    let frame_bytes = match input {
        FrameInput::Rgba => size.0 as usize * size.1 as usize * 4,
        FrameInput::HalfFloat => size.0 as usize * size.1 as usize * 8,
        FrameInput::I420(_) => video_info.size(),
    };
    let caps = video_info.to_caps().map_err(gst_err)?;
    let pool = gst::BufferPool::new();
    let mut config = pool.config();
    // Up to the appsrc queue plus what the encoder holds; more are allocated if needed.
    config.set_params(Some(&caps), frame_bytes as u32, 2, 0);
    pool.set_config(config).map_err(gst_err)?;
    pool.set_active(true).map_err(gst_err)?;
    let video = gst_app::AppSrc::builder()
        .name("enc-frames")
        .caps(&caps)
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        // A few frames of slack between the GPU and the encoder thread.
        .max_bytes(frame_bytes as u64 * 4)
        .build();
    Ok((video, pool))
}

/// The GPU writes GStreamer's default I420 layout; GStreamer must agree on it byte for
/// byte.
fn check_i420_layout(info: &gst_video::VideoInfo, size: (u32, u32)) -> Result<(), MediaError> {
    let gpu = I420Layout::new(size.0, size.1);
    let offsets = info.offset();
    let strides = info.stride();
    let same = info.size() == gpu.len as usize
        && offsets[1] == gpu.u_offset as usize
        && offsets[2] == gpu.v_offset as usize
        && strides[0] == gpu.y_stride as i32
        && strides[1] == gpu.c_stride as i32;
    if same {
        Ok(())
    } else {
        Err(MediaError::Other(format!(
            "GStreamer's I420 layout for {}x{} differs from the GPU's",
            size.0, size.1
        )))
    }
}

/// `video ! videoconvert ! pngenc|jpegenc ! sink`.
pub(super) fn still_chain(
    pipeline: &gst::Pipeline,
    video: &gst_app::AppSrc,
    sink: &gst::Element,
    container: Container,
) -> Result<(), MediaError> {
    let convert = media::make("videoconvert")?;
    let enc = media::make(if container == Container::Png {
        "pngenc"
    } else {
        "jpegenc"
    })?;
    if container == Container::Png {
        enc.set_property("snapshot", false);
    } else {
        enc.set_property("quality", 95i32);
    }
    let chain = [video.upcast_ref(), &convert, &enc, sink];
    pipeline
        .add_many(chain)
        .map_err(|e| MediaError::Other(e.to_string()))?;
    media::link_many(&chain)
}

/// `video ! queue ! videoconvert ! <raw format> ! encoder ! parser ! [capssetter] ! mux !
/// sink`; returns the muxer (for the audio).
pub(super) fn video_chain(
    pipeline: &gst::Pipeline,
    video: &gst_app::AppSrc,
    sink: &gst::Element,
    (path, container, size): (&Path, Container, (u32, u32)),
    settings: &EncodeSettings,
) -> Result<gst::Element, EncodeError> {
    let media_err = |cause: MediaError| EncodeError::Media {
        path: path.into(),
        cause,
    };
    let queue = media::make_named("queue", "enc-video").map_err(media_err)?;
    // Counted in frames, not the default 10 MB (three 1080p frames): x264's lookahead
    // fills without encoding for its first ~40 frames, then encodes for a while faster
    // than frames arrive and then slower; with a short queue the warp stalls in the slow
    // spells while x264 has cores to spare, and the cores idle. 16 frames is 50 MB at
    // 1080p, 200 MB at 4K.
    queue.set_property("max-size-buffers", ENCODER_QUEUE_FRAMES);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    let convert = media::make("videoconvert").map_err(media_err)?;
    let chosen = settings
        .encoder
        .resolve(settings.bit_depth)
        .map_err(|m| media_err(MediaError::Other(m)))?;
    log::info!(
        "video encoder: {} ({}{}, {}-bit)",
        chosen.factory,
        if chosen.hardware { "hardware " } else { "" },
        chosen.codec.name(),
        settings.bit_depth
    );
    check_size(path, chosen.factory, chosen.codec, size)?;
    let [format, encoder, parse] = encoder_branch(chosen, settings).map_err(media_err)?;
    let mux = muxer(container).map_err(media_err)?;
    let mut chain: Vec<gst::Element> = vec![
        video.clone().upcast(),
        queue,
        convert,
        format,
        encoder,
        parse,
    ];
    if let Some(setter) =
        stereo_caps(container, chosen.codec, settings.layout).map_err(media_err)?
    {
        chain.push(setter);
    }
    chain.push(mux.clone());
    chain.push(sink.clone());
    let refs: Vec<&gst::Element> = chain.iter().collect();
    pipeline
        .add_many(refs.iter().copied())
        .map_err(|e| media_err(MediaError::Other(e.to_string())))?;
    media::link_many(&refs).map_err(media_err)?;
    Ok(mux)
}

/// The muxer of a video container.
pub(super) fn muxer(container: Container) -> Result<gst::Element, MediaError> {
    media::make(match container {
        Container::Mp4 => "mp4mux",
        Container::Mov => "qtmux",
        _ => "matroskamux",
    })
}

/// Refuses a frame x264 cannot encode at all, and warns of one beyond every level of the
/// codec.
fn check_size(
    path: &Path,
    factory: &str,
    codec: Codec,
    size: (u32, u32),
) -> Result<(), EncodeError> {
    // x264 refuses to start above this ("Can not initialize x264 encoder").
    const X264_MAX_SIDE: u32 = 16384;
    if factory == "x264enc" && size.0.max(size.1) > X264_MAX_SIDE {
        return Err(EncodeError::FrameTooLarge {
            path: path.into(),
            size,
            encoder: "x264",
            limit: X264_MAX_SIDE,
        });
    }
    if let Some(limit) = codec.frame_too_large(size) {
        log::warn!(
            "{}: the {}x{} output is larger than {limit}; the file is written, but players \
             and hardware decoders may refuse it (a half layout such as --layout half-sbs \
             keeps the input's size)",
            path.display(),
            size.0,
            size.1
        );
    }
    Ok(())
}

/// The muxers write their stereo metadata from the caps' multiview-mode: matroskamux its
/// StereoMode; mp4mux and qtmux their svmi box, which they only learn from h264parse
/// reading x264's SEI, so H.265 gets it here.
pub(super) fn stereo_caps(
    container: Container,
    codec: Codec,
    layout: Layout,
) -> Result<Option<gst::Element>, MediaError> {
    let mode = match container {
        Container::Matroska => multiview_caps_mode(layout),
        _ if codec == Codec::H265 => mp4_multiview_mode(layout),
        _ => None,
    };
    let Some(mode) = mode else {
        return Ok(None);
    };
    let setter = media::make("capssetter")?;
    setter.set_property(
        "caps",
        gst::Caps::builder(match codec {
            Codec::H264 => "video/x-h264",
            Codec::H265 => "video/x-h265",
        })
        .field("multiview-mode", mode)
        .build(),
    );
    Ok(Some(setter))
}

/// Multiview mode put in the caps for matroskamux; layouts GStreamer has no mode for get
/// side-by-side here and their real StereoMode patched in after muxing.
fn multiview_caps_mode(layout: Layout) -> Option<&'static str> {
    match layout {
        Layout::Tb | Layout::HalfTb => Some("top-bottom"),
        l if l.matroska_stereo_mode().is_some() => Some("side-by-side"),
        _ => None,
    }
}

/// Multiview mode for an MP4 or MOV svmi box: stereo pairs only (the box has no
/// anaglyph); the view order is mended after muxing (`stereo_tags::set_mp4_left_first`).
fn mp4_multiview_mode(layout: Layout) -> Option<&'static str> {
    match layout {
        Layout::Sbs | Layout::HalfSbs | Layout::Cross | Layout::HalfCross => Some("side-by-side"),
        Layout::Tb | Layout::HalfTb => Some("top-bottom"),
        _ => None,
    }
}

/// The source audio's way into `mux`: passed through, or re-encoded to AAC where the
/// container cannot take it. `blocking`: pushes wait while a few MB are queued (a join
/// pushes a whole film's audio at once); otherwise they never block (the render loop
/// pushes it in step with the frames).
pub(super) fn add_audio(
    pipeline: &gst::Pipeline,
    mux: &gst::Element,
    caps: &gst::Caps,
    blocking: bool,
) -> Result<gst_app::AppSrc, MediaError> {
    let src = gst_app::AppSrc::builder()
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .block(blocking)
        .max_bytes(if blocking { 4 << 20 } else { 0 })
        .build();
    let queue = media::make_named("queue", "enc-audio")?;
    let err = |e: gst::glib::BoolError| MediaError::Other(e.to_string());
    let accepts = mux
        .pad_template("audio_%u")
        .is_some_and(|t| t.caps().can_intersect(caps));
    if accepts {
        pipeline.add_many([src.upcast_ref(), &queue]).map_err(err)?;
        media::link_many(&[src.upcast_ref(), &queue])?;
        link_audio_pad(&queue, mux)?;
        log::info!("audio: passed through ({})", caps_name(caps));
    } else {
        let decode = media::make("decodebin")?;
        let convert = media::make("audioconvert")?;
        let resample = media::make("audioresample")?;
        let aac = media::make(media::aac_encoder()?)?;
        pipeline
            .add_many([src.upcast_ref(), &queue, &decode, &convert, &resample, &aac])
            .map_err(err)?;
        media::link_many(&[src.upcast_ref(), &queue, &decode])?;
        media::link_many(&[&convert, &resample, &aac])?;
        link_audio_pad(&aac, mux)?;
        let convert_weak = convert.downgrade();
        decode.connect_pad_added(move |_, pad| {
            if let Some(convert) = convert_weak.upgrade() {
                let sink = convert.static_pad("sink").expect("audioconvert sink");
                if !sink.is_linked()
                    && let Err(e) = pad.link(&sink)
                {
                    // Posted on the bus: the encoder's next bus check reports it.
                    let message = format!("cannot link the decoded audio to the encoder: {e:?}");
                    let _ = convert.post_message(
                        gst::message::Error::builder(gst::StreamError::Failed, &message)
                            .src(&convert)
                            .build(),
                    );
                }
            }
        });
        log::info!(
            "audio: {} cannot go into this container as is; re-encoding to AAC",
            caps_name(caps)
        );
    }
    Ok(src)
}

/// Links to an audio request pad explicitly: with caps still unknown (ANY), automatic
/// linking may pick the muxer's video pad.
fn link_audio_pad(from: &gst::Element, mux: &gst::Element) -> Result<(), MediaError> {
    let sink = mux
        .request_pad_simple("audio_%u")
        .ok_or_else(|| MediaError::Other("the muxer has no audio input".into()))?;
    from.static_pad("src")
        .expect("src pad")
        .link(&sink)
        .map_err(|e| MediaError::Other(format!("cannot link audio to the muxer: {e:?}")))?;
    Ok(())
}

fn caps_name(caps: &gst::Caps) -> String {
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default()
}
