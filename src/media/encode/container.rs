//! The output's type, from its extension.

use std::path::Path;

use super::EncodeError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    Matroska,
    Png,
    Jpeg,
}

impl Container {
    pub fn from_path(path: &Path) -> Result<Self, EncodeError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "mp4" | "m4v" => Container::Mp4,
            "mov" => Container::Mov,
            "mkv" => Container::Matroska,
            "png" => Container::Png,
            "jpg" | "jpeg" => Container::Jpeg,
            _ => {
                return Err(EncodeError::UnsupportedExtension {
                    path: path.into(),
                    ext,
                });
            }
        })
    }

    pub fn is_still(self) -> bool {
        matches!(self, Container::Png | Container::Jpeg)
    }

    /// H.264 in 4:2:0 needs even frame sides.
    pub fn needs_even_size(self) -> bool {
        !self.is_still()
    }
}
