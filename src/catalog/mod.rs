//! The catalogue: GPU profiles (`hardware/`), open-weight model architectures
//! (`models/`) and dated API prices (`prices/`).
//!
//! This module owns loading and validating the data files and looking
//! entries up. It knows nothing of gRPC. The data ships inside the binary
//! (see `build.rs`); `--data-dir` replaces it with files on disk.

mod check;
mod gpu;
pub mod litellm;
mod live;
mod model;
mod precision;
mod price;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

pub use check::{Issue, LoadError, is_valid_id};
pub use gpu::{Efficiency, Gpu};
pub use live::{CustomFile, ImportedFile, LiveCatalog, is_duplicate};
pub use model::{Attention, Mla, Model, Moe, SlidingWindow};
pub use precision::Precision;
pub use price::{ApiPrice, LongContextTier, PriceBook, PriceQuery, Tier};

use crate::error::{Error, Result};
use check::Checker;

/// Where a group of figures comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub source: String,
    pub as_of: NaiveDate,
    /// The figures are our assumption rather than a published value.
    pub assumption: bool,
    pub notes: String,
}

/// A dollar amount with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct UsdFigure {
    pub usd: f64,
    pub provenance: Provenance,
}

/// The catalogue data directories, relative to a data root.
pub const DATA_DIRS: [&str; 3] = ["hardware", "models", "prices"];

/// The data files compiled into the binary: (relative path, contents).
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_data.rs"));

/// Every GPU, model and price entry, validated.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// FNV-1a over every data file's name and text: which catalogue a
    /// result came from.
    fingerprint: u64,
    gpus: BTreeMap<String, Gpu>,
    models: BTreeMap<String, Model>,
    prices: PriceBook,
    /// `prices/litellm-map.toml`: catalogue price id → LiteLLM key, when
    /// the data files have one.
    litellm_map: Option<BTreeMap<String, String>>,
    /// Every data file's text by its relative path, and which file each
    /// entry came from: what [`Catalog::snapshot`] copies into a run.
    files: BTreeMap<String, String>,
    sources: BTreeMap<(EntryKind, String), std::collections::BTreeSet<String>>,
}

/// The kinds of catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A GPU profile, `hardware/<id>.toml`.
    Gpu,
    /// A model architecture, `models/<id>.toml`.
    Model,
    /// A provider's API prices, `prices/<provider>.toml`.
    Price,
}

impl EntryKind {
    /// The data directory of this kind of file.
    pub fn dir(self) -> &'static str {
        match self {
            EntryKind::Gpu => "hardware",
            EntryKind::Model => "models",
            EntryKind::Price => "prices",
        }
    }

    /// The kind whose files live in `dir`.
    pub fn from_dir(dir: &str) -> Option<EntryKind> {
        [EntryKind::Gpu, EntryKind::Model, EntryKind::Price]
            .into_iter()
            .find(|k| k.dir() == dir)
    }
}

/// Where custom entries live among the catalogue's files:
/// `custom/<dir>/<name>.toml`.
pub const CUSTOM_ROOT: &str = "custom";

/// The file path of a custom entry.
pub fn custom_path(kind: EntryKind, name: &str) -> String {
    format!("{CUSTOM_ROOT}/{}/{name}.toml", kind.dir())
}

impl Catalog {
    /// The catalogue compiled into the binary.
    pub fn embedded() -> Result<Self, LoadError> {
        Self::from_files(EMBEDDED.iter().map(|(p, t)| (p.to_string(), t.to_string())))
    }

    /// Reads `hardware/`, `models/` and `prices/` under `root`.
    pub fn from_dir(root: &Path) -> Result<Self, LoadError> {
        let mut files = Vec::new();
        let mut issues = Vec::new();
        for dir in DATA_DIRS {
            let path = root.join(dir);
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(err) => {
                    issues.push(Issue {
                        file: path.display().to_string(),
                        field: String::new(),
                        reason: format!("cannot read directory: {err}"),
                    });
                    continue;
                }
            };
            for entry in entries.flatten() {
                let file = entry.path();
                if file.extension().is_none_or(|e| e != "toml") {
                    continue;
                }
                let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
                match std::fs::read_to_string(&file) {
                    Ok(text) => files.push((name, text)),
                    Err(err) => issues.push(Issue {
                        file: name,
                        field: String::new(),
                        reason: format!("cannot read file: {err}"),
                    }),
                }
            }
        }
        if !issues.is_empty() {
            return Err(LoadError(issues));
        }
        Self::from_files(files)
    }

    /// Builds a catalogue from (relative path, contents) pairs; the first
    /// path component says what the file holds.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, LoadError> {
        let mut files: Vec<_> = files.into_iter().collect();
        files.sort();
        let mut issues = Vec::new();
        let mut gpus = BTreeMap::new();
        let mut models = BTreeMap::new();
        let mut prices = Vec::new();
        let mut sources: BTreeMap<_, std::collections::BTreeSet<String>> = BTreeMap::new();
        let mut litellm_map = None;
        for (name, text) in &files {
            let (dir, stem) = split_name(name);
            let mut check = Checker::new(name, &mut issues);
            if name == litellm::MAP_FILE {
                litellm_map = litellm::parse_map(text, &mut check);
                continue;
            }
            match dir {
                "hardware" => {
                    if let Some(g) = gpu::parse(text, stem, &mut check) {
                        sources
                            .entry((EntryKind::Gpu, g.id.clone()))
                            .or_insert_with(Default::default)
                            .insert(name.clone());
                        gpus.insert(g.id.clone(), g);
                    }
                }
                "models" => {
                    if let Some(m) = model::parse(text, stem, &mut check) {
                        sources
                            .entry((EntryKind::Model, m.id.clone()))
                            .or_insert_with(Default::default)
                            .insert(name.clone());
                        models.insert(m.id.clone(), m);
                    }
                }
                "prices" => {
                    for p in price::parse(text, stem, &mut check).unwrap_or_default() {
                        sources
                            .entry((EntryKind::Price, p.id.clone()))
                            .or_insert_with(Default::default)
                            .insert(name.clone());
                        prices.push((name.clone(), p));
                    }
                }
                _ => check.fail("", "not under hardware/, models/ or prices/"),
            }
        }
        // One definition per id: a second file with the same GPU or model id
        // would silently replace the first, and a custom file must never
        // add to or change a price history defined elsewhere. Imported
        // prices are the one exception, checked below.
        for ((kind, id), defined) in &sources {
            let defined: std::collections::BTreeSet<&String> = defined
                .iter()
                .filter(|f| !litellm::is_imported(f))
                .collect();
            let custom = defined.iter().any(|f| f.starts_with(CUSTOM_ROOT));
            if defined.len() > 1 && (*kind != EntryKind::Price || custom) {
                // Built-in files first: the issue lands on the custom one.
                let mut ordered: Vec<&String> = defined.iter().copied().collect();
                ordered.sort_by_key(|f| f.starts_with(CUSTOM_ROOT));
                let mut files = ordered.into_iter();
                let first = files.next().cloned().unwrap_or_default();
                for other in files {
                    Checker::new(other, &mut issues).fail(
                        "id",
                        format!("{} {id:?} is already defined in {first}", kind.dir()),
                    );
                }
            }
        }
        // An imported price only adds a later-dated entry to an id that a
        // data file (built-in or custom) defines: it never creates an id
        // and never rewrites history.
        for (file, p) in prices.iter().filter(|(f, _)| litellm::is_imported(f)) {
            let latest = prices
                .iter()
                .filter(|(f, q)| q.id == p.id && !litellm::is_imported(f))
                .map(|(_, q)| q.effective_date)
                .max();
            let mut check = Checker::new(file, &mut issues);
            match latest {
                None => check.fail(
                    "price.id",
                    format!(
                        "{:?} is not a price id of the catalogue: an import only adds dated \
                         prices to existing ids",
                        p.id
                    ),
                ),
                Some(latest) if p.effective_date <= latest => check.fail(
                    "price.effective_date",
                    format!(
                        "{} is not after the latest catalogue price of {} ({latest})",
                        p.effective_date, p.id
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(map) = &litellm_map {
            let mut check = Checker::new(litellm::MAP_FILE, &mut issues);
            for id in map.keys() {
                if !sources.contains_key(&(EntryKind::Price, id.clone())) {
                    check.fail(id, format!("{id:?} is not a price id in prices/"));
                }
            }
        }
        for (file, p) in &prices {
            if let Some(m) = &p.open_weights_model
                && !models.contains_key(m)
            {
                Checker::new(file, &mut issues).fail(
                    "price.open_weights_model",
                    format!("{m:?} is not a model in models/"),
                );
            }
        }
        let mut check = Checker::new("catalogue", &mut issues);
        for (dir, empty) in [
            ("hardware", gpus.is_empty()),
            ("models", models.is_empty()),
            ("prices", prices.is_empty()),
        ] {
            if empty {
                check.fail(dir, "no entries: the directory holds no valid file");
            }
        }
        let prices = PriceBook::new(prices, &mut issues);
        let fingerprint = crate::digest::fnv1a(
            files
                .iter()
                .flat_map(|(name, text)| name.bytes().chain([0]).chain(text.bytes()).chain([0])),
        );
        if issues.is_empty() {
            Ok(Self {
                fingerprint,
                gpus,
                models,
                prices,
                litellm_map,
                files: files.into_iter().collect(),
                sources,
            })
        } else {
            Err(LoadError(issues))
        }
    }

    /// A short hex digest of the data files this catalogue was built from.
    pub fn version(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }

    /// GPU profiles ordered by id.
    pub fn gpus(&self) -> impl Iterator<Item = &Gpu> {
        self.gpus.values()
    }

    pub fn gpu(&self, id: &str) -> Result<&Gpu> {
        self.gpus
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("gpu {id:?} not found")))
    }

    /// Model architectures ordered by id.
    pub fn models(&self) -> impl Iterator<Item = &Model> {
        self.models.values()
    }

    pub fn model(&self, id: &str) -> Result<&Model> {
        self.models
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("model {id:?} not found")))
    }

    pub fn prices(&self) -> &PriceBook {
        &self.prices
    }

    /// Catalogue price id → LiteLLM key, from `prices/litellm-map.toml`.
    pub fn litellm_map(&self) -> Option<&BTreeMap<String, String>> {
        self.litellm_map.as_ref()
    }

    /// Every data file, by relative path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    /// The files that define entry `id` of `kind` (several for a price id
    /// whose history spans files).
    pub fn defined_in(&self, kind: EntryKind, id: &str) -> Vec<&str> {
        self.sources
            .get(&(kind, id.to_string()))
            .map(|files| files.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The entries the file at `path` defines.
    pub fn entries_in(&self, path: &str) -> Vec<(EntryKind, &str)> {
        self.sources
            .iter()
            .filter(|(_, files)| files.contains(path))
            .map(|((kind, id), _)| (*kind, id.as_str()))
            .collect()
    }

    /// The name of the custom entry that defines `id`, if one does.
    pub fn custom_entry_of(&self, kind: EntryKind, id: &str) -> Option<&str> {
        self.defined_in(kind, id).into_iter().find_map(|path| {
            path.strip_prefix(CUSTOM_ROOT)
                .and_then(|rest| rest.rsplit('/').next())
                .and_then(|file| file.strip_suffix(".toml"))
        })
    }

    /// The data files that define `gpu`, `model` and every dated entry of
    /// the price ids, plus the models those price files name: enough to
    /// build a catalogue (with [`Catalog::from_files`]) that answers any
    /// question about these entries exactly as this one does. Kept with a
    /// run, it makes the run reproducible after the data files change.
    pub fn snapshot(
        &self,
        gpu: &str,
        model: &str,
        price_ids: &[&str],
    ) -> Result<Vec<(String, String)>> {
        let source = |wanted: &mut std::collections::BTreeSet<String>,
                      kind: EntryKind,
                      id: &str|
         -> Result<()> {
            let files = self.sources.get(&(kind, id.to_string())).ok_or_else(|| {
                Error::NotFound(format!(
                    "{} {id:?} not found",
                    format!("{kind:?}").to_lowercase()
                ))
            })?;
            wanted.extend(files.iter().cloned());
            Ok(())
        };
        let mut wanted = std::collections::BTreeSet::new();
        source(&mut wanted, EntryKind::Gpu, gpu)?;
        source(&mut wanted, EntryKind::Model, model)?;
        for id in price_ids {
            source(&mut wanted, EntryKind::Price, id)?;
        }
        // A price file may name open-weight models; they must come along
        // for the file to load.
        let price_files: Vec<String> = wanted
            .iter()
            .filter(|f| split_name(f).0 == "prices")
            .cloned()
            .collect();
        for p in self.prices.entries() {
            if let Some(m) = &p.open_weights_model
                && self
                    .sources
                    .get(&(EntryKind::Price, p.id.clone()))
                    .is_some_and(|files| files.iter().any(|f| price_files.contains(f)))
            {
                source(&mut wanted, EntryKind::Model, m)?;
            }
        }
        Ok(wanted
            .into_iter()
            .map(|f| {
                let text = self.files.get(&f).cloned().unwrap_or_default();
                (f, text)
            })
            .collect())
    }
}

/// Splits `hardware/h100-sxm.toml` into ("hardware", "h100-sxm").
fn split_name(name: &str) -> (&str, &str) {
    let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
    let dir = dir.rsplit('/').next().unwrap_or(dir);
    (dir, file.strip_suffix(".toml").unwrap_or(file))
}

/// Deserialises a data file; a syntax error or a missing or unknown key is
/// reported with its line and column.
fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, check: &mut Checker) -> Option<T> {
    match toml::from_str(text) {
        Ok(value) => Some(value),
        Err(err) => {
            let at = err
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            check.fail("", format!("{}{at}", err.message()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_directory_and_stem() {
        assert_eq!(
            split_name("hardware/h100-sxm.toml"),
            ("hardware", "h100-sxm")
        );
        assert_eq!(split_name("/data/prices/openai.toml"), ("prices", "openai"));
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let err = Catalog::from_files([("hardware/x.toml".to_string(), "id = \n".to_string())])
            .unwrap_err();
        let first = &err.0[0];
        assert_eq!(first.file, "hardware/x.toml");
        assert!(first.reason.contains("line 1"), "{}", first.reason);
    }

    #[test]
    fn empty_directories_stop_loading() {
        let err = Catalog::from_files([]).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["hardware", "models", "prices"]);
    }
}
