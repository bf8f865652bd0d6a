//! Test helpers: a real server on an ephemeral port and clients for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use breakeven::catalog::Catalog;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// A server running in this test's runtime; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// Starts a server with the built-in catalogue. The listener is bound
    /// before the server task starts, so clients can connect at once.
    pub async fn start() -> Self {
        // Server logs show with `cargo test -- --nocapture`.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let catalog = Arc::new(Catalog::embedded().expect("built-in catalogue loads"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(breakeven::server::run(listener, catalog, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel().await)
    }
}
