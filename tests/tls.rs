//! `serve --tls-cert --tls-key [--tls-client-ca]`: a TLS server answers
//! clients that trust its CA, refuses plain-text clients, and with a client
//! CA refuses clients without a certificate signed by it. The certificates
//! are made afresh by each test.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::server::{Options, TlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A CA, a server certificate for "localhost" and a client certificate it
/// signed, as PEM files in a directory of their own.
struct Pki {
    dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("breakeven-tls-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create certificate directory");
        let pki = Self { dir };
        let ca = new_ca("breakeven test CA");
        pki.write("ca.pem", &ca.pem());
        let (cert, key) = leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        pki.write("server.pem", &cert);
        pki.write("server.key", &key);
        let (cert, key) = leaf(&ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
        pki.write("client.pem", &cert);
        pki.write("client.key", &key);
        // A client certificate from a CA the server does not know.
        let stranger = new_ca("another CA");
        let (cert, key) = leaf(&stranger, "client", ExtendedKeyUsagePurpose::ClientAuth);
        pki.write("stranger.pem", &cert);
        pki.write("stranger.key", &key);
        pki
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("write PEM file");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read PEM file")
    }

    fn server_files(&self, client_ca: bool) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: client_ca.then(|| self.path("ca.pem")),
        }
    }

    /// A client that trusts the CA and, if `identity` names one, presents
    /// that certificate.
    fn client(&self, addr: SocketAddr, identity: Option<&str>) -> Endpoint {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.read("ca.pem")))
            .domain_name("localhost");
        if let Some(name) = identity {
            tls = tls.identity(Identity::from_pem(
                self.read(&format!("{name}.pem")),
                self.read(&format!("{name}.key")),
            ));
        }
        Endpoint::from_shared(format!("https://{addr}"))
            .expect("valid uri")
            .tls_config(tls)
            .expect("client TLS configuration")
    }
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A certificate for `name` signed by `ca`, and its key.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

/// A server on 127.0.0.1:0 with `tls`; stopped when dropped.
struct TlsServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
    db: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

/// Runs a server with `tls` on `listener` until `stop` fires.
async fn serve(
    listener: TcpListener,
    db: &Path,
    tls: TlsFiles,
    stop: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let store = breakeven::store::Store::open_sqlite(db, Default::default()).await?;
    let catalog = Arc::new(Catalog::embedded()?);
    let options = Options {
        tls: Some(tls),
        ..Options::default()
    };
    breakeven::server::run_with(listener, catalog, store, options, async move {
        let _ = stop.await;
    })
    .await
}

async fn start(tls: TlsFiles) -> TlsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let db = common::temp_db();
    let (stop, stopped) = oneshot::channel();
    let path = db.clone();
    tokio::spawn(async move { serve(listener, &path, tls, stopped).await });
    TlsServer {
        addr,
        _stop: stop,
        db,
    }
}

/// Connects through `endpoint` and lists the GPUs; the error in words.
async fn list_gpus(endpoint: Endpoint) -> Result<usize, String> {
    let call = async {
        let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
        let response = CatalogServiceClient::new(channel)
            .list_gpus(pb::ListGpusRequest::default())
            .await
            .map_err(|status| format!("{status:?}"))?;
        Ok(response.into_inner().gpus.len())
    };
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .map_err(|_| "no answer within 20 s".to_string())?
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_is_served() {
    let pki = Pki::new("trusted");
    let server = start(pki.server_files(false)).await;
    let gpus = list_gpus(pki.client(server.addr, None))
        .await
        .expect("served over TLS");
    assert!(gpus > 0);
}

#[tokio::test]
async fn a_plain_text_client_is_refused() {
    let pki = Pki::new("plain");
    let server = start(pki.server_files(false)).await;
    let plain = Endpoint::from_shared(format!("http://{}", server.addr)).expect("valid uri");
    assert!(list_gpus(plain).await.is_err());
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served() {
    let pki = Pki::new("mutual");
    let server = start(pki.server_files(true)).await;
    let err = list_gpus(pki.client(server.addr, None))
        .await
        .expect_err("no client certificate");
    assert!(!err.contains("20 s"), "refused, not stalled: {err}");
    list_gpus(pki.client(server.addr, Some("stranger")))
        .await
        .expect_err("a certificate from another CA");
    let gpus = list_gpus(pki.client(server.addr, Some("client")))
        .await
        .expect("a certificate the CA signed");
    assert!(gpus > 0);
}

#[tokio::test]
async fn unusable_files_stop_the_start_naming_the_flag_and_file() {
    let pki = Pki::new("unusable");
    let missing = pki.path("missing.pem");
    let cases = [
        (
            TlsFiles {
                cert: missing.clone(),
                ..pki.server_files(false)
            },
            vec!["cannot read --tls-cert file", "missing.pem"],
        ),
        (
            TlsFiles {
                key: pki.path("server.pem"),
                ..pki.server_files(false)
            },
            vec!["--tls-key file", "server.pem", "holds no private key"],
        ),
        (
            TlsFiles {
                cert: pki.path("server.key"),
                ..pki.server_files(false)
            },
            vec!["--tls-cert file", "server.key", "holds no certificate"],
        ),
        (
            TlsFiles {
                client_ca: Some(pki.path("client.key")),
                ..pki.server_files(false)
            },
            vec!["--tls-client-ca file", "client.key", "holds no certificate"],
        ),
        (
            TlsFiles {
                key: pki.path("client.key"),
                ..pki.server_files(false)
            },
            vec!["--tls-cert", "--tls-key", "cannot be used together"],
        ),
    ];
    for (files, wanted) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let db = common::temp_db();
        let (_stop, stopped) = oneshot::channel();
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            serve(listener, &db, files.clone(), stopped),
        )
        .await
        .expect("the start fails at once");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let err = format!("{:#}", result.expect_err("unusable TLS files"));
        for want in wanted {
            assert!(
                err.contains(want),
                "{files:?}: {err:?} should contain {want:?}"
            );
        }
    }
}

/// With `--tls-cert`, the browser view is served over TLS with the same
/// files, and its cookies are `Secure`; plain HTTP gets no page.
#[tokio::test]
async fn the_browser_view_is_served_over_tls_with_secure_cookies() {
    use rustls_pki_types::pem::PemObject as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let pki = Pki::new("pages");
    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = http.local_addr().unwrap();
    let db = common::temp_db();
    let store = breakeven::store::Store::open_sqlite(&db, Default::default())
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = Options {
        tls: Some(pki.server_files(false)),
        http: Some(http),
        ..Options::default()
    };
    let server = tokio::spawn(breakeven::server::run_with(
        grpc,
        Arc::new(Catalog::embedded().unwrap()),
        store,
        options,
        async move {
            let _ = stopped.await;
        },
    ));

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("a TLS handshake");
    tls.write_all(b"GET /scenarios HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a form token cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP on the same port gets no page.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /scenarios HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut bytes)).await;
    assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    common::remove_db(&db);
}
