//! The catalogue in force: the files the server started with plus the
//! custom entries kept in its database, rebuilt whole whenever a custom
//! entry changes and swapped in at once, so a request always sees one
//! consistent catalogue.
//!
//! A team that imported prices (see [`super::litellm`]) sees its own
//! catalogue: the shared one plus its imported files, rebuilt with it.
//! Every other team sees the shared one.

use std::collections::BTreeMap;
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

/// An imported price file of one team: its catalogue path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub team: String,
    pub path: String,
    pub text: String,
}

/// The shared, replaceable catalogue and the teams' own views of it.
#[derive(Debug)]
pub struct LiveCatalog {
    /// The files the server started with.
    base: Vec<(String, String)>,
    current: RwLock<Views>,
}

#[derive(Debug)]
struct Views {
    shared: Arc<Catalog>,
    /// Per team with imported prices: its files and its catalogue.
    teams: BTreeMap<String, TeamView>,
}

/// A team's imported files (path, text) and the catalogue they make.
type TeamView = (Vec<(String, String)>, Arc<Catalog>);

impl LiveCatalog {
    pub fn new(base: Catalog) -> Self {
        Self {
            base: base
                .files()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            current: RwLock::new(Views {
                shared: Arc::new(base),
                teams: BTreeMap::new(),
            }),
        }
    }

    /// The shared catalogue in force now (data files and custom entries,
    /// no team's imports); later changes do not affect it.
    pub fn get(&self) -> Arc<Catalog> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .shared,
        )
    }

    /// The catalogue `team` sees: the shared one plus its imported prices.
    pub fn for_team(&self, team: &str) -> Arc<Catalog> {
        let views = self.current.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(views.teams.get(team).map_or(&views.shared, |(_, c)| c))
    }

    /// `team`'s view with `files` imported on top of its earlier imports
    /// (a file at the same path replaces the earlier one), validated.
    pub fn build_team(
        &self,
        team: &str,
        files: &[(String, String)],
    ) -> Result<(Vec<(String, String)>, Catalog), LoadError> {
        let (shared, mut kept) = {
            let views = self.current.read().unwrap_or_else(PoisonError::into_inner);
            let kept = views
                .teams
                .get(team)
                .map(|(f, _)| f.clone())
                .unwrap_or_default();
            (Arc::clone(&views.shared), kept)
        };
        kept.retain(|(p, _)| !files.iter().any(|(q, _)| q == p));
        kept.extend(files.iter().cloned());
        kept.sort();
        let catalog = team_catalog(&shared, &kept)?;
        Ok((kept, catalog))
    }

    /// Puts `team`'s view, built by [`LiveCatalog::build_team`], in force.
    pub fn install_team(&self, team: &str, files: Vec<(String, String)>, catalog: Catalog) {
        let mut views = self.current.write().unwrap_or_else(PoisonError::into_inner);
        views
            .teams
            .insert(team.to_string(), (files, Arc::new(catalog)));
    }

    /// Loads the kept imports at start-up, team by team; a file that no
    /// longer loads (a newer release dates the id later) is left out and
    /// returned with its issues.
    pub fn load_imports(&self, imported: &[ImportedFile]) -> Vec<(ImportedFile, LoadError)> {
        let mut by_team: BTreeMap<&str, Vec<&ImportedFile>> = BTreeMap::new();
        for file in imported {
            by_team.entry(&file.team).or_default().push(file);
        }
        let shared = self.get();
        let mut left_out = Vec::new();
        for (team, files) in by_team {
            let mut kept: Vec<(String, String)> = Vec::new();
            for file in files {
                kept.push((file.path.clone(), file.text.clone()));
                if let Err(e) = team_catalog(&shared, &kept) {
                    kept.pop();
                    left_out.push((file.clone(), e));
                }
            }
            if let Ok(catalog) = team_catalog(&shared, &kept) {
                self.install_team(team, kept, catalog);
            }
        }
        left_out
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

    /// Puts `catalog` in force as the shared catalogue, and rebuilds each
    /// team's view on top of it. Imports name only built-in ids, which no
    /// custom entry can change, so a view that fails here is a fault; it
    /// keeps its previous catalogue and the fault is logged.
    pub fn install(&self, catalog: Catalog) {
        let mut views = self.current.write().unwrap_or_else(PoisonError::into_inner);
        views.shared = Arc::new(catalog);
        let shared = Arc::clone(&views.shared);
        for (team, (files, view)) in views.teams.iter_mut() {
            match team_catalog(&shared, files) {
                Ok(catalog) => *view = Arc::new(catalog),
                Err(err) => {
                    tracing::error!(%team, %err, "imported prices no longer load");
                }
            }
        }
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

/// The shared catalogue's files plus a team's imported ones.
fn team_catalog(shared: &Catalog, imported: &[(String, String)]) -> Result<Catalog, LoadError> {
    Catalog::from_files(
        shared
            .files()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .chain(imported.iter().cloned()),
    )
}

/// Whether an issue is an id defined a second time.
pub fn is_duplicate(issue: &Issue) -> bool {
    issue.field == "id" && issue.reason.contains("is already defined in")
}
