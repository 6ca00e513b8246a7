//! Serving HTTPS with rustls from PEM files.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::StartError;

/// A TLS acceptor for the certificate chain and private key in these PEM files.
pub(crate) fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, StartError> {
    let tls_error = |reason: String| StartError::Tls(reason);
    let open = |path: &Path| {
        File::open(path)
            .map(BufReader::new)
            .map_err(|error| tls_error(format!("{}: {error}", path.display())))
    };
    let certs = rustls_pemfile::certs(&mut open(cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| tls_error(format!("{}: {error}", cert_file.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "{}: no certificate found",
            cert_file.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut open(key_file)?)
        .map_err(|error| tls_error(format!("{}: {error}", key_file.display())))?
        .ok_or_else(|| tls_error(format!("{}: no private key found", key_file.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| tls_error(error.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|error| tls_error(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
