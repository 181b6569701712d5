//! The catalog of models known by name: `models/catalog.toml`, built into the binary, with
//! an optional user catalog that adds entries or replaces them by name.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The catalog shipped with stereosplat.
const SHIPPED: &str = include_str!("../../models/catalog.toml");

/// What a model does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Estimates depth from frames.
    Depth,
    /// Fills the disocclusions of a synthesised eye.
    Inpaint,
}

/// What a depth model outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Relative inverse depth (near = large).
    Relative,
    /// Metres.
    Metric,
}

/// One model of the catalog (see the field notes in models/catalog.toml).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub task: Task,
    #[serde(default)]
    pub output: Option<Output>,
    pub licence: String,
    #[serde(default)]
    pub non_commercial: bool,
    pub url: String,
    pub file: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub default: bool,
}

impl Entry {
    /// Whether the host publishes a checksum for the file.
    pub fn verified(&self) -> bool {
        self.sha256.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    model: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the model catalog {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model catalog {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Clone, Debug)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    /// The shipped catalog, with `user` (a TOML file of the same format) adding entries or
    /// replacing them by name.
    pub fn load(user: Option<&Path>) -> Result<Self, CatalogError> {
        let mut entries = parse(SHIPPED, Path::new("models/catalog.toml (built in)"))?;
        if let Some(path) = user {
            let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            for entry in parse(&text, path)? {
                match entries.iter_mut().find(|e| e.name == entry.name) {
                    Some(old) => *old = entry,
                    None => entries.push(entry),
                }
            }
        }
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The default model of a task (the first marked `default`, else the first).
    pub fn default_for(&self, task: Task) -> Option<&Entry> {
        let of_task = || self.entries.iter().filter(|e| e.task == task);
        of_task().find(|e| e.default).or_else(|| of_task().next())
    }
}

fn parse(text: &str, path: &Path) -> Result<Vec<Entry>, CatalogError> {
    let bad = |message: String| CatalogError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    for e in &file.model {
        let safe_file =
            !e.file.is_empty() && !e.file.contains(['/', '\\']) && !e.file.starts_with('.');
        if !safe_file {
            return Err(bad(format!(
                "model {}: `file` must be a plain file name, got {:?}",
                e.name, e.file
            )));
        }
        if let Some(h) = &e.sha256
            && !(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(bad(format!(
                "model {}: `sha256` must be 64 hexadecimal digits",
                e.name
            )));
        }
        if e.task == Task::Depth && e.output.is_none() {
            return Err(bad(format!(
                "model {}: a depth model needs `output = \"relative\"` or `\"metric\"`",
                e.name
            )));
        }
    }
    Ok(file.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses_and_has_its_default() {
        let c = Catalog::load(None).unwrap();
        let d = c.default_for(Task::Depth).unwrap();
        assert_eq!(d.name, "depth-anything-v2-small");
        assert_eq!(d.licence, "Apache-2.0");
        assert!(d.verified());
        let names: Vec<&str> = c.entries().iter().map(|e| e.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "names are unique");
        assert!(c.entries().iter().all(|e| e.url.starts_with("https://")));
    }

    #[test]
    fn a_user_catalog_adds_and_replaces_and_bad_entries_are_named() {
        let dir = std::env::temp_dir().join(format!("catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let user = dir.join("mine.toml");
        std::fs::write(
            &user,
            r#"
[[model]]
name = "depth-anything-v2-small"
task = "depth"
output = "relative"
licence = "Apache-2.0"
url = "http://127.0.0.1:1/small.onnx"
file = "small.onnx"

[[model]]
name = "mine"
task = "inpaint"
licence = "MIT"
url = "http://127.0.0.1:1/mine.onnx"
file = "mine.onnx"
"#,
        )
        .unwrap();
        let c = Catalog::load(Some(&user)).unwrap();
        assert_eq!(
            c.get("depth-anything-v2-small").unwrap().url,
            "http://127.0.0.1:1/small.onnx"
        );
        assert_eq!(c.get("mine").unwrap().task, Task::Inpaint);
        std::fs::write(
            &user,
            "[[model]]\nname = \"x\"\ntask = \"depth\"\noutput = \"relative\"\nlicence = \"MIT\"\nurl = \"u\"\nfile = \"../x.onnx\"\n",
        )
        .unwrap();
        let err = Catalog::load(Some(&user)).unwrap_err().to_string();
        assert!(err.contains("plain file name"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
