//! The catalogue in force: the files the server started with plus the
//! custom entries kept in its database, rebuilt whole whenever a custom
//! entry changes and swapped in at once, so a request always sees one
//! consistent catalogue.

use std::sync::{Arc, PoisonError, RwLock};

use super::{Catalog, EntryKind, Issue, LoadError, custom_path};

/// A custom entry's file: its kind, name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFile {
    pub kind: EntryKind,
    pub name: String,
    pub text: String,
}

impl CustomFile {
    pub fn path(&self) -> String {
        custom_path(self.kind, &self.name)
    }
}

/// The shared, replaceable catalogue.
#[derive(Debug)]
pub struct LiveCatalog {
    /// The files the server started with.
    base: Vec<(String, String)>,
    current: RwLock<Arc<Catalog>>,
}

impl LiveCatalog {
    pub fn new(base: Catalog) -> Self {
        Self {
            base: base
                .files()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            current: RwLock::new(Arc::new(base)),
        }
    }

    /// The catalogue in force now; later changes do not affect it.
    pub fn get(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The base files plus `custom`, validated together: an id defined
    /// twice is an issue on the custom file.
    pub fn build(&self, custom: &[CustomFile]) -> Result<Catalog, LoadError> {
        Catalog::from_files(
            self.base
                .iter()
                .cloned()
                .chain(custom.iter().map(|c| (c.path(), c.text.clone()))),
        )
    }

    /// Puts `catalog` in force.
    pub fn install(&self, catalog: Catalog) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
    }

    /// Loads the kept custom entries at start-up. An entry that no longer
    /// loads (say a newer release ships a GPU with the same id) is left
    /// out and returned with its issues, so the server still starts.
    pub fn load_custom(&self, custom: &[CustomFile]) -> Vec<(CustomFile, LoadError)> {
        if let Ok(catalog) = self.build(custom) {
            self.install(catalog);
            return Vec::new();
        }
        let mut kept: Vec<CustomFile> = Vec::new();
        let mut left_out = Vec::new();
        for file in custom {
            kept.push(file.clone());
            match self.build(&kept) {
                Ok(_) => {}
                Err(e) => {
                    kept.pop();
                    left_out.push((file.clone(), e));
                }
            }
        }
        if let Ok(catalog) = self.build(&kept) {
            self.install(catalog);
        }
        left_out
    }
}

/// Whether an issue is an id defined a second time.
pub fn is_duplicate(issue: &Issue) -> bool {
    issue.field == "id" && issue.reason.contains("is already defined in")
}
