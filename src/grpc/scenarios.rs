//! `breakeven.v1.ScenarioService`: saved scenarios, their revisions and
//! listings, over [`crate::store::Store`].
//!
//! A scenario is checked exactly as a Project request would check it before
//! it is saved, so whatever the store holds can be run. The store keeps the
//! scenario as the encoded protobuf sent, and never looks inside it.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use prost::Message as _;
use tonic::{Request, Response, Status};

use super::convert::required;
use super::pb;
use super::simulation::scenario;
use super::tenant::{caller, filter, owner, visible};
use crate::catalog::{Catalog, LiveCatalog};
use crate::error::{Error, Result};
use crate::store::{
    Expected, ListQuery, Order, OrderKey, Revision, ScenarioFields, Store, StoredScenario,
};

/// Serves saved scenarios from a store, checked against the catalogue.
#[derive(Debug, Clone)]
pub struct ScenarioApi {
    store: Store,
    catalog: Arc<LiveCatalog>,
}

impl ScenarioApi {
    pub fn new(store: Store, catalog: Arc<LiveCatalog>) -> Self {
        Self { store, catalog }
    }

    /// The fields to save, with every violation of the metadata and the
    /// scenario reported together.
    fn fields(
        &self,
        name: String,
        team: String,
        tags: Vec<String>,
        description: String,
        body: Option<&pb::Scenario>,
    ) -> Result<ScenarioFields> {
        let fields = ScenarioFields {
            name,
            team,
            tags,
            description,
            body: body.map(|s| s.encode_to_vec()).unwrap_or_default(),
        };
        let mut violations = Vec::new();
        for check in [
            fields.validate(),
            scenario(body).and_then(|s| s.validate(&self.catalog.get(), "scenario.")),
        ] {
            match check {
                Ok(()) => {}
                Err(Error::InvalidArgument(v)) => violations.extend(v),
                Err(other) => return Err(other),
            }
        }
        if violations.is_empty() {
            Ok(fields)
        } else {
            Err(Error::InvalidArgument(violations))
        }
    }
}

impl ScenarioApi {
    /// One page of the saved scenarios `caller` may see (ListScenarios).
    /// `at` starts the page at that offset instead of at the request's
    /// page token, for callers that number their pages.
    pub async fn list(
        &self,
        caller: Option<&str>,
        r: pb::ListScenariosRequest,
        at: Option<u64>,
    ) -> Result<pb::ListScenariosResponse> {
        let team = filter("team", &r.team, caller)?;
        let filters = [
            "ListScenarios",
            &r.name_contains,
            &r.tag,
            &r.team,
            &r.created_after,
            &r.created_before,
            &r.order_by,
        ];
        let (offset, limit) = window(r.page_size, &r.page_token, &filters)?;
        let offset = at.unwrap_or(offset);
        let query = ListQuery {
            order: order_by(&r.order_by)?,
            created_after: instant("created_after", &r.created_after)?,
            created_before: instant("created_before", &r.created_before)?,
            name_contains: r.name_contains.clone(),
            tag: r.tag.clone(),
            team,
            offset,
            limit,
        };
        let page = self.store.list(query).await?;
        let next_page_token = next_token(offset, page.items.len(), page.total, &filters);
        Ok(pb::ListScenariosResponse {
            scenarios: page
                .items
                .into_iter()
                .map(saved_pb)
                .collect::<Result<_>>()?,
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        })
    }
}

#[tonic::async_trait]
impl pb::scenario_service_server::ScenarioService for ScenarioApi {
    async fn create_scenario(
        &self,
        request: Request<pb::CreateScenarioRequest>,
    ) -> Result<Response<pb::SavedScenario>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let team = owner("team", r.team, caller.as_deref())?;
        let fields = self.fields(r.name, team, r.tags, r.description, r.scenario.as_ref())?;
        let saved = self.store.create(fields).await?;
        Ok(Response::new(saved_pb(saved)?))
    }

    async fn get_scenario(
        &self,
        request: Request<pb::GetScenarioRequest>,
    ) -> Result<Response<pb::SavedScenario>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let saved = visible_scenario(&self.store, id, caller(&request).as_deref()).await?;
        Ok(Response::new(saved_pb(saved)?))
    }

    async fn list_scenarios(
        &self,
        request: Request<pb::ListScenariosRequest>,
    ) -> Result<Response<pb::ListScenariosResponse>, Status> {
        let caller = caller(&request);
        let list = self
            .list(caller.as_deref(), request.into_inner(), None)
            .await?;
        Ok(Response::new(list))
    }

    async fn update_scenario(
        &self,
        request: Request<pb::UpdateScenarioRequest>,
    ) -> Result<Response<pb::SavedScenario>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let id = required("id", &r.id)?.to_string();
        visible_scenario(&self.store, &id, caller.as_deref()).await?;
        let team = owner("team", r.team, caller.as_deref())?;
        let fields = self.fields(r.name, team, r.tags, r.description, r.scenario.as_ref())?;
        let expected = Expected {
            etag: Some(r.etag).filter(|e| !e.is_empty()),
            revision: Some(r.expected_revision).filter(|&n| n > 0),
        };
        let saved = self.store.update(&id, fields, expected).await?;
        Ok(Response::new(saved_pb(saved)?))
    }

    async fn delete_scenario(
        &self,
        request: Request<pb::DeleteScenarioRequest>,
    ) -> Result<Response<pb::DeleteScenarioResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let id = required("id", &r.id)?;
        visible_scenario(&self.store, id, caller.as_deref()).await?;
        let expected = Expected {
            etag: Some(r.etag.clone()).filter(|e| !e.is_empty()),
            revision: None,
        };
        self.store.delete(id, expected).await?;
        Ok(Response::new(pb::DeleteScenarioResponse {}))
    }

    async fn list_scenario_revisions(
        &self,
        request: Request<pb::ListScenarioRevisionsRequest>,
    ) -> Result<Response<pb::ListScenarioRevisionsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let id = required("id", &r.id)?;
        visible_scenario(&self.store, id, caller.as_deref()).await?;
        let filters = ["ListScenarioRevisions", id];
        let (offset, limit) = window(r.page_size, &r.page_token, &filters)?;
        let page = self.store.revisions(id, offset, limit).await?;
        let next_page_token = next_token(offset, page.items.len(), page.total, &filters);
        Ok(Response::new(pb::ListScenarioRevisionsResponse {
            revisions: page
                .items
                .into_iter()
                .map(revision_pb)
                .collect::<Result<_>>()?,
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        }))
    }
}

fn saved_pb(s: StoredScenario) -> Result<pb::SavedScenario> {
    Ok(pb::SavedScenario {
        etag: s.etag(),
        scenario: Some(decode(&s.id, &s.body)?),
        create_time: rfc3339(s.created_at),
        update_time: rfc3339(s.updated_at),
        last_run_time: s.last_run_at.map(rfc3339).unwrap_or_default(),
        id: s.id,
        name: s.name,
        team: s.team,
        tags: s.tags,
        description: s.description,
        revision: s.revision,
    })
}

fn revision_pb(r: Revision) -> Result<pb::ScenarioRevision> {
    Ok(pb::ScenarioRevision {
        scenario: Some(decode(&r.scenario_id, &r.body)?),
        create_time: rfc3339(r.created_at),
        id: r.scenario_id,
        revision: r.revision,
        name: r.name,
        team: r.team,
        tags: r.tags,
        description: r.description,
    })
}

/// The saved scenario `id` if the caller may see it; NOT_FOUND otherwise,
/// exactly as for an unknown id.
pub(super) async fn visible_scenario(
    store: &Store,
    id: &str,
    caller: Option<&str>,
) -> Result<StoredScenario> {
    let saved = store.get(id).await?;
    if visible(&saved.team, caller) {
        Ok(saved)
    } else {
        Err(crate::store::not_found(id))
    }
}

/// Saves each built-in example scenario (tagged "example") that the store
/// does not hold yet under its name; returns how many were added.
pub async fn seed_examples(store: &Store, catalog: &Catalog) -> Result<usize> {
    let present = store
        .list(ListQuery {
            tag: "example".into(),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let mut added = 0;
    for (file, text) in crate::tco::examples::EXAMPLES {
        let domain = crate::tco::Scenario::from_toml(text)?;
        if present.items.iter().any(|s| s.name == domain.name) {
            continue;
        }
        domain.validate(catalog, "scenario.")?;
        let body = pb::Scenario::try_from(&domain)?;
        store
            .create(ScenarioFields {
                name: domain.name.clone(),
                team: String::new(),
                tags: vec!["example".into()],
                description: format!("Example shipped with breakeven (examples/{file}.toml)"),
                body: body.encode_to_vec(),
            })
            .await?;
        added += 1;
    }
    Ok(added)
}

pub(super) fn decode(id: &str, body: &[u8]) -> Result<pb::Scenario> {
    pb::Scenario::decode(body)
        .map_err(|e| Error::Internal(format!("stored scenario {id} does not decode: {e}")))
}

/// Unix milliseconds as RFC 3339 in UTC, e.g. `2025-06-01T12:00:00.000Z`.
pub(super) fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// An optional RFC 3339 instant as unix milliseconds.
fn instant(field: &str, text: &str) -> Result<Option<i64>> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| {
            Error::invalid(
                field,
                format!("{text:?} is not an RFC 3339 time such as 2025-01-31T00:00:00Z ({e})"),
            )
        })
}

fn order_by(text: &str) -> Result<Order> {
    let invalid = || {
        Error::invalid(
            "order_by",
            format!(
                "{text:?} is not one of \"name\", \"create_time\", \"last_run_time\", \
                 optionally followed by \" desc\""
            ),
        )
    };
    let mut words = text.split_whitespace();
    let key = match words.next() {
        None => return Ok(Order::default()),
        Some("name") => OrderKey::Name,
        Some("create_time") => OrderKey::CreateTime,
        Some("last_run_time") => OrderKey::LastRunTime,
        Some(_) => return Err(invalid()),
    };
    let descending = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("asc") => false,
        Some(w) if w.eq_ignore_ascii_case("desc") => true,
        Some(_) => return Err(invalid()),
    };
    if words.next().is_some() {
        return Err(invalid());
    }
    Ok(Order { key, descending })
}

/// The offset and size of the page asked for (see `page.rs`).
pub(super) fn window(page_size: i32, token: &str, filters: &[&str]) -> Result<(u64, u32)> {
    let (offset, size) = super::page::window(page_size, token, filters)?;
    Ok((offset, size as u32))
}

/// The token of the page after `count` entries from `offset`; empty at the
/// end.
pub(super) fn next_token(offset: u64, count: usize, total: u64, filters: &[&str]) -> String {
    if count == 0 {
        return String::new();
    }
    super::page::next_token(offset + count as u64, total, filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

    #[test]
    fn order_by_accepts_the_documented_forms() {
        let check = |text: &str, key: OrderKey, descending: bool| {
            assert_eq!(order_by(text).unwrap(), Order { key, descending }, "{text}");
        };
        check("", OrderKey::CreateTime, false);
        check("name", OrderKey::Name, false);
        check("name desc", OrderKey::Name, true);
        check(" last_run_time  DESC ", OrderKey::LastRunTime, true);
        check("create_time asc", OrderKey::CreateTime, false);
        for bad in ["size", "name up", "name desc desc", "Name"] {
            let err = order_by(bad).unwrap_err();
            assert!(err.to_string().contains("order_by"), "{bad}: {err}");
        }
    }

    #[test]
    fn instants_are_rfc3339() {
        assert_eq!(instant("t", "").unwrap(), None);
        assert_eq!(instant("t", "1970-01-01T00:00:01.5Z").unwrap(), Some(1500));
        assert_eq!(instant("t", "1970-01-01T01:00:00+01:00").unwrap(), Some(0));
        assert!(instant("created_after", "yesterday").is_err());
        assert_eq!(rfc3339(1500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn tokens_are_bound_to_their_filters() {
        let next = next_token(0, 10, 25, &["a", "b"]);
        assert_eq!(window(10, &next, &["a", "b"]).unwrap(), (10, 10));
        for bad in [next.as_str(), "zz", "1.x"] {
            let err = window(10, bad, &["a", "c"]).unwrap_err();
            assert!(err.to_string().contains("page_token"), "{err}");
        }
        assert!(next_token(20, 5, 25, &[]).is_empty());
        assert!(window(-1, "", &[]).is_err());
        assert_eq!(window(0, "", &[]).unwrap().1 as usize, DEFAULT_PAGE_SIZE);
        assert_eq!(window(9999, "", &[]).unwrap().1 as usize, MAX_PAGE_SIZE);
    }
}
