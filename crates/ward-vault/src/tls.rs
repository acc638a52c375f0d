//! TLS for the vault's own PostgreSQL connections, negotiated as libpq negotiates it with
//! `sslmode=prefer` or `require`: rustls over tokio-rustls, the server's certificate not
//! checked against any authority (CloudNativePG signs it with its own per-cluster CA), the
//! handshake's signatures checked, and SCRAM bound to the certificate when the server offers it.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode`, for the values Ward supports. `verify-ca` and `verify-full` would
/// need the server's CA certificate, which Ward has no way to be given yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, else plain: libpq's default.
    #[default]
    Prefer,
    /// TLS or fail.
    Require,
}

impl SslMode {
    /// The libpq spelling, as `PGSSLMODE` and `?sslmode=` take it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
        }
    }

    pub(crate) fn to_postgres(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require => tokio_postgres::config::SslMode::Require,
        }
    }

    pub(crate) fn from_postgres(mode: tokio_postgres::config::SslMode) -> SslMode {
        match mode {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Prefer => SslMode::Prefer,
            // `Require`, and any stricter mode a later tokio-postgres may parse: the
            // strictest Ward can honour rather than a silent downgrade to plain text.
            _ => SslMode::Require,
        }
    }
}

/// Makes tokio-postgres TLS connectors over one rustls configuration.
#[derive(Clone)]
pub(crate) struct MakeRustlsConnect {
    config: Arc<ClientConfig>,
}

impl MakeRustlsConnect {
    /// The process's connector: every connection (a backup or a restore opens more than
    /// one) uses the same configuration, so it is built once.
    pub(crate) fn shared() -> Result<MakeRustlsConnect, rustls::Error> {
        static SHARED: std::sync::OnceLock<Result<MakeRustlsConnect, rustls::Error>> =
            std::sync::OnceLock::new();
        SHARED.get_or_init(MakeRustlsConnect::new).clone()
    }

    fn new() -> Result<MakeRustlsConnect, rustls::Error> {
        // aws-lc-rs: the provider rustls is already built with here (for reqwest), so
        // naming it explicitly adds no second crypto library and needs no process default.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(UnverifiedServer {
            algorithms: provider.signature_verification_algorithms,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect {
            config: Arc::new(config),
        })
    }
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        // The name only feeds SNI (nothing is verified against it). A host that is no DNS
        // name gets an unspecified address, for which rustls sends no SNI at all.
        let name = ServerName::try_from(domain.to_string())
            .unwrap_or_else(|_| ServerName::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.config)),
            name,
        })
    }
}

/// One handshake to one server.
pub(crate) struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
        })
    }
}

/// A TLS session to the server (a newtype: tokio-postgres's trait on tokio-rustls's type).
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// `tls-server-end-point` (RFC 5929) of the server's certificate, so that SCRAM proves
    /// both ends saw the same certificate: without verification this is what stops a
    /// man in the middle from relaying the login. libpq does the same by default.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| tls_server_end_point(cert.as_ref()))
            .map(ChannelBinding::tls_server_end_point)
            .unwrap_or_else(ChannelBinding::none)
    }
}

/// Accepts any server certificate (libpq's `prefer`/`require` without `sslrootcert`), but
/// still checks that the server signed the handshake with that certificate's key.
#[derive(Debug)]
struct UnverifiedServer {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for UnverifiedServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificate's hash for `tls-server-end-point`: with the hash of its signature
/// algorithm, SHA-256 in place of MD5 and SHA-1 (RFC 5929 §4.1). `None` for an algorithm
/// that defines no such hash (RSASSA-PSS, Ed25519, …) or a certificate that does not
/// parse: SCRAM then goes unbound, which the server accepts, as it does from libpq.
fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]; // 1.2.840.113549.1.1
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01]; // 1.2.840.10045.4.1
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03]; // 1.2.840.10045.4.3
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (0x30, certificate, _) = der_element(cert)? else {
        return None;
    };
    let (0x30, _, rest) = der_element(certificate)? else {
        return None;
    };
    let (0x30, algorithm, _) = der_element(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der_element(algorithm)? else {
        return None;
    };
    enum Hash {
        Sha224,
        Sha256,
        Sha384,
        Sha512,
    }
    let hash = match oid {
        [prefix @ .., last] if prefix == RSA => match last {
            0x04 | 0x05 | 0x0b => Hash::Sha256, // md5, sha1, sha256 WithRSAEncryption
            0x0c => Hash::Sha384,
            0x0d => Hash::Sha512,
            0x0e => Hash::Sha224,
            _ => return None,
        },
        _ if oid == ECDSA_SHA1 => Hash::Sha256,
        [prefix @ .., last] if prefix == ECDSA_SHA2 => match last {
            0x01 => Hash::Sha224,
            0x02 => Hash::Sha256,
            0x03 => Hash::Sha384,
            0x04 => Hash::Sha512,
            _ => return None,
        },
        _ => return None,
    };
    Some(match hash {
        Hash::Sha224 => sha2::Sha224::digest(cert).to_vec(),
        Hash::Sha256 => sha2::Sha256::digest(cert).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(cert).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(cert).to_vec(),
    })
}

/// One DER element of `input`: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate-shaped DER value: an outer sequence holding a (dummy) tbsCertificate,
    /// the algorithm identifier with `oid`, and a bit string.
    fn cert_with(oid: &[u8]) -> Vec<u8> {
        let tbs = [0x30, 0x03, 0x02, 0x01, 0x02];
        let mut algorithm = vec![0x30, (oid.len() + 4) as u8, 0x06, oid.len() as u8];
        algorithm.extend_from_slice(oid);
        algorithm.extend_from_slice(&[0x05, 0x00]);
        let signature = [0x03, 0x02, 0x00, 0xff];
        // A long-form length, as real certificates have.
        let len = tbs.len() + algorithm.len() + signature.len();
        let mut cert = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
        cert.extend_from_slice(&tbs);
        cert.extend_from_slice(&algorithm);
        cert.extend_from_slice(&signature);
        cert
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_algorithm() {
        let rsa = |last: u8| {
            let mut oid = vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
            oid.push(last);
            oid
        };
        let ecdsa = |last: u8| vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last];
        let cases: Vec<(Vec<u8>, Option<usize>)> = vec![
            (rsa(0x0b), Some(32)),
            (rsa(0x05), Some(32)),
            (rsa(0x0c), Some(48)),
            (rsa(0x0d), Some(64)),
            (rsa(0x0e), Some(28)),
            (rsa(0x0a), None), // RSASSA-PSS: the hash is in the parameters
            (ecdsa(0x02), Some(32)),
            (ecdsa(0x03), Some(48)),
            (vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01], Some(32)),
            (vec![0x2b, 0x65, 0x70], None), // Ed25519
        ];
        for (oid, size) in cases {
            let cert = cert_with(&oid);
            let hash = tls_server_end_point(&cert);
            assert_eq!(hash.as_ref().map(Vec::len), size, "{oid:02x?}");
            if size == Some(32) {
                assert_eq!(hash, Some(sha2::Sha256::digest(&cert).to_vec()));
            }
        }
    }

    #[test]
    fn malformed_certificates_bind_nothing() {
        let good = cert_with(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
        for cut in 0..good.len() {
            assert_eq!(tls_server_end_point(&good[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            tls_server_end_point(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(tls_server_end_point(&[0x30, 0x80]), None);
        assert_eq!(tls_server_end_point(&[]), None);
    }

    #[test]
    fn modes_round_trip_through_tokio_postgres() {
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            assert_eq!(SslMode::from_postgres(mode.to_postgres()), mode);
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }
}
