//! A keyframed camera move for `--layout novel` (`--camera-path FILE`): times in seconds
//! with a pose at each, linear in between, held before the first and after the last. A
//! still image rendered along a path becomes a clip as long as the path (a parallax
//! move, as DepthFlow makes from photos).
//!
//! Two spellings, chosen by the file's extension:
//! - CSV (`.csv`): `time,x,y,z,yaw,pitch,roll` per line; a header line, blank lines and
//!   `#` comments are skipped; rotations may be left off (zero).
//! - TOML (`.toml`): `[[key]]` tables with `time`, `offset = [x, y, z]` and
//!   `rotate = [yaw, pitch, roll]` (either may be left off).

use std::path::Path;

use super::Pose;

#[derive(Clone, Debug, PartialEq)]
pub struct CameraPath {
    /// (seconds, pose), in increasing time.
    keys: Vec<(f64, Pose)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot read the camera path {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("camera path {path}, {place}: {what}")]
    Invalid {
        path: String,
        place: String,
        what: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlPath {
    key: Vec<TomlKey>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlKey {
    time: f64,
    #[serde(default)]
    offset: [f32; 3],
    #[serde(default)]
    rotate: [f32; 3],
}

impl TomlKey {
    fn key(self) -> (f64, Pose) {
        (
            self.time,
            Pose {
                offset: self.offset,
                rotate_deg: self.rotate,
            },
        )
    }
}

impl CameraPath {
    /// Reads a path from a `.csv` or `.toml` file.
    pub fn read(path: &Path) -> Result<Self, PathError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PathError::Read {
            path: name.clone(),
            source,
        })?;
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let invalid = |place: String, what: String| PathError::Invalid {
            path: name.clone(),
            place,
            what,
        };
        let keys = if toml {
            let parsed: TomlPath = toml::from_str(&text).map_err(|e| {
                invalid(
                    "TOML".into(),
                    format!("{} (expected [[key]] tables with time, offset = [x, y, z], rotate = [yaw, pitch, roll])", e.message()),
                )
            })?;
            parsed.key.into_iter().map(TomlKey::key).collect()
        } else {
            parse_csv(&text).map_err(|(line, what)| invalid(format!("line {line}"), what))?
        };
        Self::new(keys).map_err(|what| invalid("keys".into(), what))
    }

    /// A path through `keys` (seconds, pose), which must be in increasing time.
    pub fn new(keys: Vec<(f64, Pose)>) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("the path has no keys; give at least one (time, offset, rotation)".into());
        }
        for pair in keys.windows(2) {
            if pair[1].0 <= pair[0].0 {
                return Err(format!(
                    "times must increase from key to key ({} s is followed by {} s)",
                    pair[0].0, pair[1].0
                ));
            }
        }
        if let Some((t, _)) = keys.iter().find(|(t, p)| {
            !t.is_finite()
                || *t < 0.0
                || p.offset.iter().chain(&p.rotate_deg).any(|v| !v.is_finite())
        }) {
            return Err(format!(
                "the key at {t} s has a negative or non-numeric value"
            ));
        }
        Ok(Self { keys })
    }

    /// The pose at `seconds`.
    pub fn at(&self, seconds: f64) -> Pose {
        let next = self.keys.partition_point(|(t, _)| *t <= seconds);
        match next {
            0 => self.keys[0].1,
            n if n == self.keys.len() => self.keys[n - 1].1,
            n => {
                let (t0, a) = self.keys[n - 1];
                let (t1, b) = self.keys[n];
                a.lerp(&b, ((seconds - t0) / (t1 - t0)) as f32)
            }
        }
    }

    /// When the last key is (a still along the path lasts this long).
    pub fn end_seconds(&self) -> f64 {
        self.keys.last().map_or(0.0, |(t, _)| *t)
    }
}

/// CSV keys; errors carry the 1-based line.
fn parse_csv(text: &str) -> Result<Vec<(f64, Pose)>, (usize, String)> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let numbers: Result<Vec<f64>, _> = fields.iter().map(|f| f.parse::<f64>()).collect();
        let Ok(v) = numbers else {
            // A header line (time,x,y,z,...) before any key.
            if keys.is_empty() && fields.iter().any(|f| f.parse::<f64>().is_err()) && i == 0 {
                continue;
            }
            return Err((
                i + 1,
                format!("{line:?} is not time,x,y,z[,yaw,pitch,roll] numbers"),
            ));
        };
        if v.len() != 4 && v.len() != 7 {
            return Err((
                i + 1,
                format!(
                    "{} values; a key is time,x,y,z or time,x,y,z,yaw,pitch,roll",
                    v.len()
                ),
            ));
        }
        let get = |k: usize| v.get(k).copied().unwrap_or(0.0) as f32;
        keys.push((
            v[0],
            Pose {
                offset: [get(1), get(2), get(3)],
                rotate_deg: [get(4), get(5), get(6)],
            },
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_toml_give_the_same_path() {
        let csv =
            parse_csv("time,x,y,z,yaw,pitch,roll\n0,0,0,0\n# dolly in\n2, 0.1,0,0.5, 10,0,0\n")
                .unwrap();
        let a = CameraPath::new(csv).unwrap();
        let toml: TomlPath = toml::from_str(
            "[[key]]\ntime = 0.0\n[[key]]\ntime = 2.0\noffset = [0.1, 0.0, 0.5]\nrotate = [10.0, 0.0, 0.0]\n",
        )
        .unwrap();
        let b = CameraPath::new(toml.key.into_iter().map(TomlKey::key).collect()).unwrap();
        assert_eq!(a, b);
        let mid = a.at(1.0);
        assert_eq!(mid.offset, [0.05, 0.0, 0.25]);
        assert_eq!(mid.rotate_deg, [5.0, 0.0, 0.0]);
        assert_eq!(a.at(-1.0), Pose::default());
        assert_eq!(a.at(9.0).offset, [0.1, 0.0, 0.5]);
        assert_eq!(a.end_seconds(), 2.0);
    }

    #[test]
    fn bad_paths_say_where() {
        assert_eq!(parse_csv("0,0,0\n").unwrap_err().0, 1);
        assert_eq!(parse_csv("0,0,0,0\n1,a,0,0\n").unwrap_err().0, 2);
        assert!(CameraPath::new(vec![]).is_err());
        let p = Pose::default();
        assert!(CameraPath::new(vec![(1.0, p), (1.0, p)]).is_err());
    }
}
