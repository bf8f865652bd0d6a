//! Test helpers: a real server on an ephemeral port and clients for it.
#![allow(dead_code)]

pub mod cli;
pub mod pages;
pub mod process;

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
    db: std::path::PathBuf,
    /// Whether dropping the server removes its database file.
    owns_db: bool,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.owns_db {
            remove_db(&self.db);
        }
    }
}

/// A database file of its own for each test server. A file of the same
/// name can only be left from an earlier test process with the same
/// process id (one killed before it cleaned up), so it is removed first.
pub fn temp_db() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let db = std::env::temp_dir().join(format!(
        "breakeven-test-{}-{}.db",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    remove_db(&db);
    db
}

/// Removes a database file and SQLite's files beside it.
pub fn remove_db(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

impl TestServer {
    /// Starts a server with the built-in catalogue. The listener is bound
    /// before the server task starts, so clients can connect at once.
    pub async fn start() -> Self {
        let mut server = Self::start_on(temp_db()).await;
        server.owns_db = true;
        server
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task").expect("server ran");
        }
    }

    /// Starts a server on the database file `db`, which outlives it.
    pub async fn start_on(db: std::path::PathBuf) -> Self {
        Self::start_with(db, Catalog::embedded().expect("built-in catalogue loads")).await
    }

    /// Starts a server on `db` with its own catalogue.
    pub async fn start_with(db: std::path::PathBuf, catalog: Catalog) -> Self {
        Self::start_with_options(db, catalog, Default::default()).await
    }

    /// Starts a server on `db` with its own catalogue and options.
    pub async fn start_with_options(
        db: std::path::PathBuf,
        catalog: Catalog,
        options: breakeven::server::Options,
    ) -> Self {
        // Server logs show with `cargo test -- --nocapture`.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let catalog = Arc::new(catalog);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let store = breakeven::store::Store::open_sqlite(&db, Default::default())
            .await
            .expect("open test database");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(breakeven::server::run_with(
            listener,
            catalog,
            store,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            stop: Some(stop),
            db,
            owns_db: false,
            done: Some(done),
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
