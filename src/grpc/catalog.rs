//! `breakeven.v1.CatalogService`: reads of the catalogue, and the custom
//! entries teams add beside the built-in data files.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{date_or_today, required};
use super::page::paginate;
use super::pb;
use super::scenarios::rfc3339;
use super::tenant::{caller, owner, visible};
use crate::catalog::{
    Catalog, CustomFile, EntryKind, LiveCatalog, LoadError, PriceQuery, is_duplicate, is_valid_id,
    litellm,
};
use crate::error::{Error, FieldViolation, Result};
use crate::store::custom::MAX_CUSTOM_BYTES;
use crate::store::{CustomEntry, ImportedPrice, MAX_TEAM_CHARS, Store};

/// Serves the catalogue in force and keeps its custom entries.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Arc<LiveCatalog>,
    store: Store,
    /// One custom-entry change at a time: each is checked against the
    /// catalogue the previous one left.
    edits: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogApi {
    pub fn new(catalog: Arc<LiveCatalog>, store: Store) -> Self {
        Self {
            catalog,
            store,
            edits: Arc::default(),
        }
    }

    /// A custom entry the caller may see (its team's, or any without
    /// tokens); NOT_FOUND otherwise.
    async fn visible_entry(
        &self,
        kind: EntryKind,
        name: &str,
        caller: Option<&str>,
    ) -> Result<CustomEntry> {
        let entry = self.store.custom_entry(kind.dir(), name).await?;
        if visible(&entry.team, caller) {
            Ok(entry)
        } else {
            Err(crate::store::custom::custom_not_found(kind.dir(), name))
        }
    }

    /// The catalogue that `change` would leave, checked: the stored custom
    /// entries with `change` applied (`None` text deletes).
    async fn candidate(&self, kind: EntryKind, name: &str, text: Option<&str>) -> Result<Catalog> {
        let mut files: Vec<CustomFile> = self
            .store
            .custom_entries()
            .await?
            .into_iter()
            .filter_map(|e| custom_file(&e))
            .filter(|f| !(f.kind == kind && f.name == name))
            .collect();
        let path = crate::catalog::custom_path(kind, name);
        if let Some(text) = text {
            files.push(CustomFile {
                kind,
                name: name.to_string(),
                text: text.to_string(),
            });
        }
        // Parsing and checking every data file takes milliseconds: do it
        // off the async workers.
        let live = Arc::clone(&self.catalog);
        let deleting = text.is_none();
        tokio::task::spawn_blocking(move || {
            live.build(&files)
                .map_err(|e| load_error(e, &path, deleting))
        })
        .await
        .map_err(|e| Error::Internal(format!("catalogue check failed: {e}")))?
    }
}

/// A stored entry as a catalogue file; `None` for a kind this build does
/// not know.
pub(crate) fn custom_file(e: &CustomEntry) -> Option<CustomFile> {
    let kind = EntryKind::from_dir(&e.kind)?;
    Some(CustomFile {
        kind,
        name: e.name.clone(),
        text: e.text.clone(),
    })
}

/// What a failed catalogue build means for the caller: a duplicate id is
/// ALREADY_EXISTS; problems in the new file are INVALID_ARGUMENT under
/// `toml`; anything else (another entry depends on a deleted one) is
/// FAILED_PRECONDITION.
fn load_error(e: LoadError, path: &str, deleting: bool) -> Error {
    if let Some(dup) = e.0.iter().find(|i| i.file == path && is_duplicate(i)) {
        return Error::AlreadyExists(dup.reason.clone());
    }
    let own: Vec<FieldViolation> =
        e.0.iter()
            .filter(|i| i.file == path)
            .map(|i| {
                let field = if i.field.is_empty() {
                    "toml".to_string()
                } else {
                    format!("toml.{}", i.field)
                };
                FieldViolation::new(field, i.reason.clone())
            })
            .collect();
    if !own.is_empty() && !deleting {
        return Error::InvalidArgument(own);
    }
    Error::FailedPrecondition(format!("the catalogue would no longer load: {e}"))
}

fn kind(value: i32) -> Result<EntryKind> {
    match pb::CatalogEntryKind::try_from(value) {
        Ok(pb::CatalogEntryKind::Gpu) => Ok(EntryKind::Gpu),
        Ok(pb::CatalogEntryKind::Model) => Ok(EntryKind::Model),
        Ok(pb::CatalogEntryKind::ApiPrices) => Ok(EntryKind::Price),
        _ => Err(Error::invalid(
            "kind",
            "must be CATALOG_ENTRY_KIND_GPU, CATALOG_ENTRY_KIND_MODEL or \
             CATALOG_ENTRY_KIND_API_PRICES",
        )),
    }
}

fn kind_pb(kind: EntryKind) -> pb::CatalogEntryKind {
    match kind {
        EntryKind::Gpu => pb::CatalogEntryKind::Gpu,
        EntryKind::Model => pb::CatalogEntryKind::Model,
        EntryKind::Price => pb::CatalogEntryKind::ApiPrices,
    }
}

/// Checks a name and text before anything is built from them.
fn check_entry(name: &str, text: &str) -> Result<()> {
    let mut bad = Vec::new();
    if !is_valid_id(name) {
        bad.push(FieldViolation::new(
            "name",
            format!("{name:?} must be lowercase letters, digits, '-' and '.'"),
        ));
    }
    if text.trim().is_empty() {
        bad.push(FieldViolation::new("toml", "is required"));
    } else if text.len() > MAX_CUSTOM_BYTES {
        bad.push(FieldViolation::new(
            "toml",
            format!(
                "must be at most {MAX_CUSTOM_BYTES} bytes, got {}",
                text.len()
            ),
        ));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(bad))
    }
}

fn entry_pb(e: CustomEntry, catalog: &Catalog) -> pb::CatalogEntry {
    let kind = custom_file(&e).map(|f| f.kind);
    let path = kind.map(|k| crate::catalog::custom_path(k, &e.name));
    pb::CatalogEntry {
        kind: kind
            .map_or(pb::CatalogEntryKind::Unspecified, kind_pb)
            .into(),
        ids: path
            .map(|p| {
                let mut ids: Vec<String> = catalog
                    .entries_in(&p)
                    .into_iter()
                    .map(|(_, id)| id.to_string())
                    .collect();
                ids.dedup();
                ids
            })
            .unwrap_or_default(),
        create_time: rfc3339(e.created_at),
        update_time: rfc3339(e.updated_at),
        name: e.name,
        team: e.team,
        toml: e.text,
        revision: e.revision,
    }
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn list_gpus(
        &self,
        request: Request<pb::ListGpusRequest>,
    ) -> Result<Response<pb::ListGpusResponse>, Status> {
        let req = request.into_inner();
        let catalog = self.catalog.get();
        let matching: Vec<_> = catalog
            .gpus()
            .filter(|g| req.vendor.is_empty() || g.vendor.eq_ignore_ascii_case(&req.vendor))
            .collect();
        let total_size = matching.len() as i32;
        let (page, next_page_token) =
            paginate(matching, req.page_size, &req.page_token, &[&req.vendor])?;
        Ok(Response::new(pb::ListGpusResponse {
            gpus: page.into_iter().map(|g| gpu_pb(&catalog, g)).collect(),
            next_page_token,
            total_size,
        }))
    }

    async fn get_gpu(
        &self,
        request: Request<pb::GetGpuRequest>,
    ) -> Result<Response<pb::Gpu>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let catalog = self.catalog.get();
        Ok(Response::new(gpu_pb(&catalog, catalog.gpu(id)?)))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let req = request.into_inner();
        let catalog = self.catalog.get();
        let matching: Vec<_> = catalog
            .models()
            .filter(|m| {
                req.developer.is_empty() || m.developer.eq_ignore_ascii_case(&req.developer)
            })
            .collect();
        let total_size = matching.len() as i32;
        let (page, next_page_token) =
            paginate(matching, req.page_size, &req.page_token, &[&req.developer])?;
        Ok(Response::new(pb::ListModelsResponse {
            models: page.into_iter().map(|m| model_pb(&catalog, m)).collect(),
            next_page_token,
            total_size,
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let catalog = self.catalog.get();
        Ok(Response::new(model_pb(&catalog, catalog.model(id)?)))
    }

    async fn list_api_prices(
        &self,
        request: Request<pb::ListApiPricesRequest>,
    ) -> Result<Response<pb::ListApiPricesResponse>, Status> {
        let team = caller(&request).unwrap_or_default();
        let req = request.into_inner();
        let query = PriceQuery {
            provider: req.provider.clone(),
            model: req.model.clone(),
            as_of: date_or_today("as_of", &req.as_of)?,
            include_history: req.include_history,
        };
        let catalog = self.catalog.for_team(&team);
        let matching = catalog.prices().query(&query);
        let total_size = matching.len() as i32;
        let as_of = query.as_of.format("%Y-%m-%d").to_string();
        let history = if req.include_history { "history" } else { "" };
        let filters = [req.provider.as_str(), &req.model, &as_of, history];
        let (page, next_page_token) = paginate(matching, req.page_size, &req.page_token, &filters)?;
        Ok(Response::new(pb::ListApiPricesResponse {
            prices: page.into_iter().map(|p| price_pb(&catalog, p)).collect(),
            next_page_token,
            total_size,
            as_of,
        }))
    }

    async fn get_api_price(
        &self,
        request: Request<pb::GetApiPriceRequest>,
    ) -> Result<Response<pb::ApiPrice>, Status> {
        let team = caller(&request).unwrap_or_default();
        let req = request.get_ref();
        let id = required("id", &req.id)?;
        let as_of = date_or_today("as_of", &req.as_of)?;
        let catalog = self.catalog.for_team(&team);
        Ok(Response::new(price_pb(
            &catalog,
            catalog.prices().in_force(id, as_of)?,
        )))
    }

    async fn create_catalog_entry(
        &self,
        request: Request<pb::CreateCatalogEntryRequest>,
    ) -> Result<Response<pb::CatalogEntry>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let kind = kind(r.kind)?;
        check_entry(&r.name, &r.toml)?;
        let team = owner("team", r.team, caller.as_deref())?;
        if team.chars().count() > MAX_TEAM_CHARS {
            return Err(Error::invalid(
                "team",
                format!("must be at most {MAX_TEAM_CHARS} characters"),
            )
            .into());
        }
        let _edit = self.edits.lock().await;
        let catalog = self.candidate(kind, &r.name, Some(&r.toml)).await?;
        let saved = self
            .store
            .put_custom_entry(
                CustomEntry {
                    kind: kind.dir().to_string(),
                    name: r.name,
                    team,
                    text: r.toml,
                    revision: 0,
                    created_at: 0,
                    updated_at: 0,
                },
                true,
                None,
            )
            .await?;
        self.catalog.install(catalog);
        Ok(Response::new(entry_pb(saved, &self.catalog.get())))
    }

    async fn get_catalog_entry(
        &self,
        request: Request<pb::GetCatalogEntryRequest>,
    ) -> Result<Response<pb::CatalogEntry>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let kind = kind(r.kind)?;
        let name = required("name", &r.name)?;
        let entry = self.visible_entry(kind, name, caller.as_deref()).await?;
        Ok(Response::new(entry_pb(entry, &self.catalog.get())))
    }

    async fn list_catalog_entries(
        &self,
        request: Request<pb::ListCatalogEntriesRequest>,
    ) -> Result<Response<pb::ListCatalogEntriesResponse>, Status> {
        let caller = caller(&request);
        let catalog = self.catalog.get();
        Ok(Response::new(pb::ListCatalogEntriesResponse {
            entries: self
                .store
                .custom_entries()
                .await?
                .into_iter()
                .filter(|e| visible(&e.team, caller.as_deref()))
                .map(|e| entry_pb(e, &catalog))
                .collect(),
        }))
    }

    async fn update_catalog_entry(
        &self,
        request: Request<pb::UpdateCatalogEntryRequest>,
    ) -> Result<Response<pb::CatalogEntry>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let kind = kind(r.kind)?;
        check_entry(&r.name, &r.toml)?;
        let _edit = self.edits.lock().await;
        let current = self.visible_entry(kind, &r.name, caller.as_deref()).await?;
        let catalog = self.candidate(kind, &r.name, Some(&r.toml)).await?;
        let saved = self
            .store
            .put_custom_entry(
                CustomEntry {
                    text: r.toml,
                    ..current
                },
                false,
                Some(r.expected_revision).filter(|&n| n > 0),
            )
            .await?;
        self.catalog.install(catalog);
        Ok(Response::new(entry_pb(saved, &self.catalog.get())))
    }

    async fn delete_catalog_entry(
        &self,
        request: Request<pb::DeleteCatalogEntryRequest>,
    ) -> Result<Response<pb::DeleteCatalogEntryResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let kind = kind(r.kind)?;
        let name = required("name", &r.name)?;
        let _edit = self.edits.lock().await;
        self.visible_entry(kind, name, caller.as_deref()).await?;
        let catalog = self.candidate(kind, name, None).await?;
        self.store.delete_custom_entry(kind.dir(), name).await?;
        self.catalog.install(catalog);
        Ok(Response::new(pb::DeleteCatalogEntryResponse {}))
    }

    async fn import_prices(
        &self,
        request: Request<pb::ImportPricesRequest>,
    ) -> Result<Response<pb::ImportPricesResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let date = date_or_today("effective_date", &r.effective_date)?;
        let team = owner("team", r.team, caller.as_deref())?;
        if team.chars().count() > MAX_TEAM_CHARS {
            return Err(Error::invalid(
                "team",
                format!("must be at most {MAX_TEAM_CHARS} characters"),
            )
            .into());
        }
        let _edit = self.edits.lock().await;
        let view = self.catalog.for_team(&team);
        let today = chrono::Utc::now().date_naive();
        let json = r.litellm_json;
        // Reading a 1.5 MB file and checking every entry: off the workers.
        let live = Arc::clone(&self.catalog);
        let (import, built) = {
            let team = team.clone();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let import = litellm::plan(&view, &json, date, today)?;
                let built = if r.dry_run || import.files.is_empty() {
                    None
                } else {
                    let built = live.build_team(&team, &import.files).map_err(|e| {
                        Error::FailedPrecondition(format!(
                            "the imported prices would not load: {e}"
                        ))
                    })?;
                    Some(built)
                };
                Ok((import, built))
            })
            .await
            .map_err(|e| Error::Internal(format!("price import failed: {e}")))??
        };
        if let Some((files, catalog)) = built {
            let rows = import
                .files
                .iter()
                .zip(&import.changes)
                .map(|((path, text), change)| ImportedPrice {
                    team: team.clone(),
                    price_id: change.price_id.clone(),
                    effective_date: date.to_string(),
                    path: path.clone(),
                    text: text.clone(),
                    created_at: 0,
                })
                .collect();
            self.store.put_imported_prices(rows).await?;
            self.catalog.install_team(&team, files, catalog);
        }
        Ok(Response::new(import_pb(import, r.dry_run, team)))
    }
}

fn import_pb(i: litellm::Import, dry_run: bool, team: String) -> pb::ImportPricesResponse {
    let mapping = |m: litellm::MappedKey| pb::LitellmMapping {
        price_id: m.price_id,
        litellm_key: m.litellm_key,
    };
    pb::ImportPricesResponse {
        effective_date: i.effective_date.to_string(),
        dry_run,
        team,
        changes: i
            .changes
            .into_iter()
            .map(|c| pb::PriceChange {
                price_id: c.price_id,
                litellm_key: c.litellm_key,
                replaces_effective_date: c.replaces_from.to_string(),
                fields: c
                    .fields
                    .into_iter()
                    .map(|f| pb::PriceFieldChange {
                        field: f.field.name().to_string(),
                        old_usd_per_mtok: f.old,
                        new_usd_per_mtok: f.new,
                    })
                    .collect(),
            })
            .collect(),
        unchanged: i.unchanged,
        slips: i
            .slips
            .into_iter()
            .map(|s| pb::PriceSlip {
                price_id: s.price_id,
                litellm_key: s.litellm_key,
                field: s.field,
                usd_per_token: s.usd_per_token,
                reason: s.reason,
            })
            .collect(),
        not_found: i.not_found.into_iter().map(mapping).collect(),
        retired: i.retired.into_iter().map(mapping).collect(),
        unmapped: i.unmapped,
    }
}

fn gpu_pb(catalog: &Catalog, g: &crate::catalog::Gpu) -> pb::Gpu {
    pb::Gpu {
        custom_entry: catalog
            .custom_entry_of(EntryKind::Gpu, &g.id)
            .unwrap_or_default()
            .to_string(),
        ..g.into()
    }
}

fn model_pb(catalog: &Catalog, m: &crate::catalog::Model) -> pb::Model {
    pb::Model {
        custom_entry: catalog
            .custom_entry_of(EntryKind::Model, &m.id)
            .unwrap_or_default()
            .to_string(),
        ..m.into()
    }
}

fn price_pb(catalog: &Catalog, p: &crate::catalog::ApiPrice) -> pb::ApiPrice {
    pb::ApiPrice {
        custom_entry: catalog
            .custom_entry_of(EntryKind::Price, &p.id)
            .unwrap_or_default()
            .to_string(),
        ..p.into()
    }
}
