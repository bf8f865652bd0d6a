//! TLS for the gRPC listener: the PEM files `serve` is given, read and
//! checked into a rustls configuration (through tonic).
//!
//! The files are parsed here before rustls sees them so that a wrong file
//! is reported by its flag and path ("--tls-key server.crt holds no private
//! key") instead of rustls' generic parse errors. This module reads files
//! and nothing else; the listener is the server's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// How long a client may take to finish its handshake; a connection that
/// stalls longer is dropped rather than held open.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that sign client certificates. When set, every
    /// client must present a certificate signed by one of them.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS files cannot be used; each names the flag and file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {flag} file {}: {err}", .path.display())]
    Read {
        flag: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("{flag} file {} is not valid PEM: {reason}", .path.display())]
    Pem {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{flag} file {} holds no {what}", .path.display())]
    Missing {
        flag: &'static str,
        path: PathBuf,
        what: &'static str,
    },
    #[error("--tls-cert {} and --tls-key {} cannot be used together: {reason}",
        .cert.display(), .key.display())]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

impl TlsFiles {
    /// Reads and checks the files; the result goes to
    /// `tonic::transport::Server::tls_config`.
    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_certificates("--tls-cert", &self.cert)?;
        let key = read_key("--tls-key", &self.key)?;
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(read_certificates(
                "--tls-client-ca",
                ca,
            )?));
        }
        Ok(config)
    }

    /// The same files as a rustls configuration for an HTTP/1.1 listener
    /// (the browser view of `serve --http-addr`); client certificates are
    /// required as on the gRPC listener when `client_ca` is set.
    pub fn http_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&read_certificates("--tls-cert", &self.cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error("--tls-cert", &self.cert, e))?;
        let key = PrivateKeyDer::from_pem_slice(&read_key("--tls-key", &self.key)?)
            .map_err(|e| pem_error("--tls-key", &self.key, e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(std::sync::Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| self.refused(e))?;
        let builder = match &self.client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in
                    CertificateDer::pem_slice_iter(&read_certificates("--tls-client-ca", ca)?)
                {
                    let cert = cert.map_err(|e| pem_error("--tls-client-ca", ca, e))?;
                    roots.add(cert).map_err(|e| self.refused(e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    std::sync::Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| self.refused(e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| self.refused(e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The error of a configuration that parsed but that rustls refused,
    /// e.g. a key that does not belong to the certificate.
    pub fn refused(&self, reason: impl std::fmt::Display) -> TlsError {
        TlsError::Identity {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Reads a PEM file, or a client's `--tls-ca`, that must hold at least one
/// certificate; returns its text.
pub fn read_certificates(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let text = read(flag, path)?;
    let mut found = false;
    for cert in CertificateDer::pem_slice_iter(&text) {
        cert.map_err(|e| pem_error(flag, path, e))?;
        found = true;
    }
    if !found {
        return Err(TlsError::Missing {
            flag,
            path: path.to_path_buf(),
            what: "certificate (-----BEGIN CERTIFICATE-----)",
        });
    }
    Ok(text)
}

fn read_key(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let text = read(flag, path)?;
    match PrivateKeyDer::from_pem_slice(&text) {
        Ok(_) => Ok(text),
        Err(pem::Error::NoItemsFound) => Err(TlsError::Missing {
            flag,
            path: path.to_path_buf(),
            what: "private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
        }),
        Err(e) => Err(pem_error(flag, path, e)),
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        err,
    })
}

fn pem_error(flag: &'static str, path: &Path, e: pem::Error) -> TlsError {
    TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("breakeven-tls-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    #[test]
    fn errors_name_the_flag_and_the_file() {
        let missing = PathBuf::from("/nonexistent/server.pem");
        let empty = temp("empty", "");
        let broken = temp(
            "broken",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        let cases = [
            (
                missing.clone(),
                missing.clone(),
                "cannot read --tls-cert file",
            ),
            (empty.clone(), empty.clone(), "holds no certificate"),
            (broken.clone(), empty.clone(), "is not valid PEM"),
        ];
        for (cert, key, want) in cases {
            let files = TlsFiles {
                cert: cert.clone(),
                key,
                client_ca: None,
            };
            let err = files
                .server_config()
                .expect_err("unusable files")
                .to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
            assert!(err.contains(&cert.display().to_string()), "{err:?}");
        }
        for path in [empty, broken] {
            let _ = std::fs::remove_file(path);
        }
    }
}
