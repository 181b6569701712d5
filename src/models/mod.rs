//! Models by name: the [`catalog`] of models stereosplat knows, the store of downloaded
//! models under `<cache>/models/`, and resolving a model reference (`--depth-model`,
//! `--inpaint-model`) given as a file or a catalog name, downloading it on first use
//! ([`download`]) unless offline.

pub mod catalog;
pub mod download;

use std::path::{Path, PathBuf};

pub use catalog::{Catalog, CatalogError, Entry, Output, Task};
pub use download::DownloadError;

use crate::progress::Transfer;

/// Where models are kept and whether they may be fetched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The cache folder (`--cache-dir`); models go in its `models/` folder.
    pub cache_dir: Option<PathBuf>,
    /// A user catalog (`--catalog`, or `STEREOSPLAT_CATALOG`).
    pub catalog: Option<PathBuf>,
    /// No downloads (`--offline`, or `STEREOSPLAT_OFFLINE=1`).
    pub offline: bool,
}

impl StoreOptions {
    /// The user catalog: `--catalog`, else `STEREOSPLAT_CATALOG`.
    fn user_catalog(&self) -> Option<PathBuf> {
        self.catalog
            .clone()
            .or_else(|| std::env::var_os("STEREOSPLAT_CATALOG").map(PathBuf::from))
    }

    /// `--offline`, or `STEREOSPLAT_OFFLINE` set to anything but empty or 0.
    pub fn is_offline(&self) -> bool {
        self.offline
            || std::env::var("STEREOSPLAT_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(
        "{reference}: no such file, and no model of that name in the catalog. \
         `stereosplat models list` shows the models known by name{}",
        if .similar.is_empty() { String::new() } else { format!(" (did you mean {}?)", .similar) }
    )]
    Unknown { reference: String, similar: String },
    #[error("{name} is {what} model in the catalog, not {wanted} model")]
    WrongTask {
        name: String,
        what: &'static str,
        wanted: &'static str,
    },
    #[error(
        "model {name} is not downloaded yet, and downloads are off (--offline or \
         STEREOSPLAT_OFFLINE). Download it first with `stereosplat models get {name}`{catalog}"
    )]
    Offline { name: String, catalog: String },
    #[error("model {name}: {source}")]
    Download { name: String, source: DownloadError },
    #[error("cannot create the model folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The local store of catalog models.
pub struct Store {
    catalog: Catalog,
    dir: PathBuf,
    options: StoreOptions,
}

impl Store {
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let catalog = Catalog::load(options.user_catalog().as_deref())?;
        let dir = crate::fsutil::cache_root(options.cache_dir.as_deref()).join("models");
        Ok(Self {
            catalog,
            dir,
            options: options.clone(),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `entry` lives once downloaded.
    pub fn path_of(&self, entry: &Entry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    pub fn is_installed(&self, entry: &Entry) -> bool {
        self.path_of(entry).is_file()
    }

    /// The catalog entry `name`, or an error that lists what is known.
    pub fn entry(&self, name: &str) -> Result<&Entry, StoreError> {
        self.catalog.get(name).ok_or_else(|| StoreError::Unknown {
            reference: name.to_owned(),
            similar: self.similar(name),
        })
    }

    /// Catalog names that contain `name` or that `name` contains.
    fn similar(&self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        self.catalog
            .entries()
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| !lower.is_empty() && (n.contains(&lower) || lower.contains(n)))
            .take(3)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Downloads `entry` (resuming a partial download) unless it is there; returns its
    /// path.
    pub fn get(&self, entry: &Entry, progress: &mut dyn Transfer) -> Result<PathBuf, StoreError> {
        let path = self.path_of(entry);
        if path.is_file() {
            return Ok(path);
        }
        if self.options.is_offline() {
            return Err(self.offline_error(entry));
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Folder {
            path: self.dir.clone(),
            source,
        })?;
        log::info!(
            "downloading {} model {} ({}{}) from {} into {}",
            match entry.task {
                Task::Depth => "depth",
                Task::Inpaint => "inpainting",
            },
            entry.name,
            entry.size.map_or("size unknown".to_string(), |s| format!(
                "{:.0} MB",
                s as f64 / 1e6
            )),
            if entry.non_commercial {
                ", non-commercial licence"
            } else {
                ""
            },
            entry.url,
            self.dir.display()
        );
        let expected = download::Expected {
            size: entry.size,
            sha256: entry.sha256.clone(),
        };
        let sha = download::fetch(&entry.url, &path, &expected, progress).map_err(|source| {
            StoreError::Download {
                name: entry.name.clone(),
                source,
            }
        })?;
        if entry.verified() {
            log::info!("{}: checksum verified (sha256 {sha})", entry.name);
        } else {
            log::warn!(
                "{} has no published checksum in the catalog: the file downloaded has sha256 \
                 {sha}; compare it with the model card before trusting it",
                entry.name
            );
        }
        Ok(path)
    }

    fn offline_error(&self, entry: &Entry) -> StoreError {
        StoreError::Offline {
            name: entry.name.clone(),
            catalog: self
                .options
                .user_catalog()
                .map(|c| format!(" --catalog {}", c.display()))
                .unwrap_or_default(),
        }
    }

    /// A reference that names an existing file is that file; otherwise a catalog name
    /// (of a model for `task`), which is downloaded when missing (`progress` shows it).
    pub fn resolve(
        &self,
        reference: &Path,
        task: Task,
        progress: &mut dyn Transfer,
    ) -> Result<Resolved, StoreError> {
        match self.lookup(reference, task)? {
            Lookup::File(path) => Ok(Resolved { path, entry: None }),
            Lookup::Catalog(entry) => Ok(Resolved {
                path: self.get(entry, progress)?,
                entry: Some(entry.clone()),
            }),
        }
    }

    /// Whether `reference` can be used without downloading now, or downloaded: an
    /// existing file, or a catalog model that is installed or may be fetched. Checked
    /// before any work starts.
    pub fn check(&self, reference: &Path, task: Task) -> Result<(), StoreError> {
        match self.lookup(reference, task)? {
            Lookup::Catalog(e) if !self.is_installed(e) && self.options.is_offline() => {
                Err(self.offline_error(e))
            }
            _ => Ok(()),
        }
    }

    fn lookup(&self, reference: &Path, task: Task) -> Result<Lookup<'_>, StoreError> {
        if reference.is_file() {
            return Ok(Lookup::File(reference.to_path_buf()));
        }
        let name = reference.to_string_lossy();
        let entry = self.entry(&name)?;
        if entry.task != task {
            let what = |t: Task| match t {
                Task::Depth => "a depth",
                Task::Inpaint => "an inpainting",
            };
            return Err(StoreError::WrongTask {
                name: entry.name.clone(),
                what: what(entry.task),
                wanted: what(task),
            });
        }
        Ok(Lookup::Catalog(entry))
    }
}

enum Lookup<'a> {
    File(PathBuf),
    Catalog(&'a Entry),
}

/// A model reference made into a file.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub path: PathBuf,
    /// The catalog entry, when it was given by name.
    pub entry: Option<Entry>,
}
