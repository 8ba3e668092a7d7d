//! TLS to HTTPS upstream proxies (rustls with the ring provider). The
//! proxy's certificate is verified against Mozilla's roots (webpki-roots)
//! plus any extra roots configured (a private CA, or a test certificate);
//! a certificate that does not verify fails the attempt as the proxy's fault.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A TLS client configuration for upstream proxies.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    extra_roots: usize,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("extra_roots", &self.extra_roots)
            .finish_non_exhaustive()
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls::with_roots(Vec::new())
    }
}

impl Tls {
    /// Mozilla's roots plus `extra`.
    pub fn with_roots(extra: Vec<CertificateDer<'static>>) -> Tls {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let extra_roots = extra.len();
        for cert in extra {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            // Invariant: ring supports the default protocol versions.
            .expect("ring supports TLS 1.2 and 1.3");
        Tls {
            connector: TlsConnector::from(Arc::new(config)),
            extra_roots,
        }
    }

    /// Mozilla's roots plus the certificates in a PEM file's bytes.
    pub fn with_pem_roots(pem: &[u8]) -> Result<Tls, crate::InputError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| crate::InputError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(crate::InputError::NoCertificate);
        }
        Ok(Tls::with_roots(certs))
    }

    pub(crate) async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, io::Error> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.connector.connect(name, tcp).await
    }
}

/// A connection to an upstream proxy: plain TCP or TLS.
pub enum UpstreamStream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (HTTPS proxies).
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for UpstreamStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamStream::Tcp(_) => "UpstreamStream::Tcp",
            UpstreamStream::Tls(_) => "UpstreamStream::Tls",
        })
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
