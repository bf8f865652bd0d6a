//! The standard health service reports SERVING once the catalogue is loaded.

mod common;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_is_serving_for_the_server_and_the_catalog_service() {
    let server = common::TestServer::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "",
        "breakeven.v1.CatalogService",
        "breakeven.v1.EstimatorService",
        "breakeven.v1.ScenarioService",
        "breakeven.v1.SimulationService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?}: {s}"))
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "breakeven.v1.NoSuchService".to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}
