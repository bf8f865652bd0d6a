//! `breakeven.v1.CatalogService`: reads of the catalogue.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{date_or_today, required};
use super::page::paginate;
use super::pb;
use crate::catalog::{Catalog, PriceQuery};

/// Serves the catalogue loaded at start-up.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalog: Arc<Catalog>,
}

impl CatalogApi {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn list_gpus(
        &self,
        request: Request<pb::ListGpusRequest>,
    ) -> Result<Response<pb::ListGpusResponse>, Status> {
        let req = request.into_inner();
        let matching: Vec<_> = self
            .catalog
            .gpus()
            .filter(|g| req.vendor.is_empty() || g.vendor.eq_ignore_ascii_case(&req.vendor))
            .collect();
        let total_size = matching.len() as i32;
        let (page, next_page_token) =
            paginate(matching, req.page_size, &req.page_token, &[&req.vendor])?;
        Ok(Response::new(pb::ListGpusResponse {
            gpus: page.into_iter().map(Into::into).collect(),
            next_page_token,
            total_size,
        }))
    }

    async fn get_gpu(
        &self,
        request: Request<pb::GetGpuRequest>,
    ) -> Result<Response<pb::Gpu>, Status> {
        let id = required("id", &request.get_ref().id)?;
        Ok(Response::new(self.catalog.gpu(id)?.into()))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let req = request.into_inner();
        let matching: Vec<_> = self
            .catalog
            .models()
            .filter(|m| {
                req.developer.is_empty() || m.developer.eq_ignore_ascii_case(&req.developer)
            })
            .collect();
        let total_size = matching.len() as i32;
        let (page, next_page_token) =
            paginate(matching, req.page_size, &req.page_token, &[&req.developer])?;
        Ok(Response::new(pb::ListModelsResponse {
            models: page.into_iter().map(Into::into).collect(),
            next_page_token,
            total_size,
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::Model>, Status> {
        let id = required("id", &request.get_ref().id)?;
        Ok(Response::new(self.catalog.model(id)?.into()))
    }

    async fn list_api_prices(
        &self,
        request: Request<pb::ListApiPricesRequest>,
    ) -> Result<Response<pb::ListApiPricesResponse>, Status> {
        let req = request.into_inner();
        let query = PriceQuery {
            provider: req.provider.clone(),
            model: req.model.clone(),
            as_of: date_or_today("as_of", &req.as_of)?,
            include_history: req.include_history,
        };
        let matching = self.catalog.prices().query(&query);
        let total_size = matching.len() as i32;
        let as_of = query.as_of.format("%Y-%m-%d").to_string();
        let history = if req.include_history { "history" } else { "" };
        let filters = [req.provider.as_str(), &req.model, &as_of, history];
        let (page, next_page_token) = paginate(matching, req.page_size, &req.page_token, &filters)?;
        Ok(Response::new(pb::ListApiPricesResponse {
            prices: page.into_iter().map(Into::into).collect(),
            next_page_token,
            total_size,
            as_of,
        }))
    }

    async fn get_api_price(
        &self,
        request: Request<pb::GetApiPriceRequest>,
    ) -> Result<Response<pb::ApiPrice>, Status> {
        let req = request.get_ref();
        let id = required("id", &req.id)?;
        let as_of = date_or_today("as_of", &req.as_of)?;
        Ok(Response::new(
            self.catalog.prices().in_force(id, as_of)?.into(),
        ))
    }
}
