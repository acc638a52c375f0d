//! TLS for the vault's own PostgreSQL connections, negotiated as libpq negotiates it: rustls
//! over tokio-rustls; under `prefer`/`require` the server's certificate is not checked,
//! under `verify-ca`/`verify-full` it is checked against the CA file given (and the host
//! name); SCRAM is bound to the certificate when the server offers it (`channel_binding`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect, TlsStream};

use crate::error::VaultError;

/// libpq's `sslmode`, for the values Ward supports (all but `allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, else plain: libpq's default, which an active
    /// attacker can downgrade to plain text.
    #[default]
    Prefer,
    /// TLS or fail; any certificate is accepted.
    Require,
    /// TLS with a certificate that chains to the CA file (`sslrootcert`); any host name.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to (a SAN `dNSName`
    /// or `iPAddress` entry).
    VerifyFull,
}

impl SslMode {
    /// Every mode, in libpq's order from weakest to strongest.
    pub const ALL: [SslMode; 5] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The libpq spelling, as `PGSSLMODE` and `?sslmode=` take it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode of a libpq spelling; `None` for anything else (`allow` included).
    pub fn parse(text: &str) -> Option<SslMode> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the server's certificate is checked against a CA (so a CA file is needed).
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// What tokio-postgres negotiates: the verify modes require TLS, and our connector
    /// does the checking.
    pub(crate) fn to_postgres(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// libpq's `channel_binding`: whether SCRAM must be bound to the TLS certificate
/// (`SCRAM-SHA-256-PLUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    /// Never bind.
    Disable,
    /// Bind when the server offers `SCRAM-SHA-256-PLUS`: libpq's default.
    #[default]
    Prefer,
    /// Bind or refuse, before any password is sent: a server that asks for a cleartext or
    /// MD5 password, plain SCRAM, or none, is refused.
    Require,
}

impl ChannelBinding {
    /// Every value, as libpq spells them.
    pub const ALL: [ChannelBinding; 3] = [
        ChannelBinding::Disable,
        ChannelBinding::Prefer,
        ChannelBinding::Require,
    ];

    /// The libpq spelling, as `PGCHANNELBINDING` and `?channel_binding=` take it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBinding::Disable => "disable",
            ChannelBinding::Prefer => "prefer",
            ChannelBinding::Require => "require",
        }
    }

    pub fn parse(text: &str) -> Option<ChannelBinding> {
        ChannelBinding::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// tokio-postgres enforces `Require` itself: it refuses an `AuthenticationOk`, a
    /// cleartext or MD5 request, and a SASL exchange without `-PLUS`, before it answers.
    pub(crate) fn to_postgres(self) -> tokio_postgres::config::ChannelBinding {
        match self {
            ChannelBinding::Disable => tokio_postgres::config::ChannelBinding::Disable,
            ChannelBinding::Prefer => tokio_postgres::config::ChannelBinding::Prefer,
            ChannelBinding::Require => tokio_postgres::config::ChannelBinding::Require,
        }
    }
}

/// The CA certificates of a PEM file, for `verify-ca`/`verify-full`. Every failure is bad
/// input naming the file: missing, unreadable, no certificate in it, or one that does not
/// parse as a CA rustls can anchor to.
pub fn load_ca_file(path: &Path) -> Result<RootCertStore, VaultError> {
    let bad = |why: String| {
        VaultError::InvalidInput(format!(
            "the database CA file {} {why}; give the PEM file of the CA that signs the server's certificate (for CloudNativePG, `ca.crt` of the cluster's `<cluster>-ca` Secret)",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => bad("does not exist".into()),
        _ => bad(format!("cannot be read ({e})")),
    })?;
    let mut roots = RootCertStore::empty();
    let mut count = 0usize;
    for (n, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| bad(format!("is not valid PEM ({e})")))?;
        roots.add(cert).map_err(|e| {
            bad(format!(
                "holds certificate {} that does not parse ({e})",
                n + 1
            ))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(bad(
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
        ));
    }
    Ok(roots)
}

/// Makes tokio-postgres TLS connectors over one rustls configuration.
#[derive(Clone)]
pub(crate) struct MakeRustlsConnect {
    config: Arc<ClientConfig>,
    /// Whether the server's certificate must name the host (`verify-full`): a host that
    /// is neither a DNS name nor an IP address can then not be connected to at all.
    check_name: bool,
}

impl MakeRustlsConnect {
    /// The process's unverifying connector (`prefer`, `require`): every connection (a
    /// backup or a restore opens more than one) uses the same configuration, so it is
    /// built once.
    pub(crate) fn shared() -> Result<MakeRustlsConnect, rustls::Error> {
        static SHARED: std::sync::OnceLock<Result<MakeRustlsConnect, rustls::Error>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| MakeRustlsConnect::checking(None, false))
            .clone()
    }

    /// A connector that checks the server's certificate against `roots` and, with
    /// `check_name` (`verify-full`), the host name.
    pub(crate) fn verifying(
        roots: RootCertStore,
        check_name: bool,
    ) -> Result<MakeRustlsConnect, rustls::Error> {
        MakeRustlsConnect::checking(Some(roots), check_name)
    }

    /// A connector whose handshakes check the server as `ServerCheck` does with `roots`
    /// (`None`: any certificate) and `check_name`.
    fn checking(
        roots: Option<RootCertStore>,
        check_name: bool,
    ) -> Result<MakeRustlsConnect, rustls::Error> {
        let provider = provider();
        let verifier = Arc::new(ServerCheck {
            roots: roots.map(Arc::new),
            check_name,
            algorithms: provider.signature_verification_algorithms,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect {
            config: Arc::new(config),
            check_name,
        })
    }
}

/// aws-lc-rs: the provider rustls is already built with here (for reqwest), so naming it
/// explicitly adds no second crypto library and needs no process default.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Why a host cannot be verified against a certificate: it is no DNS name or IP address.
#[derive(Debug, thiserror::Error)]
#[error(
    "the host {0:?} is neither a DNS name nor an IP address, so sslmode=verify-full cannot check it against the server's certificate"
)]
pub(crate) struct UncheckableHost(String);

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = UncheckableHost;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        // The name feeds SNI and, under verify-full, the certificate check. Without that
        // check a host that is no DNS name gets an unspecified address, for which rustls
        // sends no SNI at all.
        let name = match ServerName::try_from(domain.to_string()) {
            Ok(name) => name,
            Err(_) if self.check_name => return Err(UncheckableHost(domain.to_string())),
            Err(_) => ServerName::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        };
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
    /// both ends saw the same certificate: a man in the middle who presents his own
    /// certificate cannot relay the login, if the server offers `SCRAM-SHA-256-PLUS` and
    /// the role's password is stored as SCRAM. libpq does the same by default.
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        use tokio_postgres::tls::ChannelBinding;
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| tls_server_end_point(cert.as_ref()))
            .map(ChannelBinding::tls_server_end_point)
            .unwrap_or_else(ChannelBinding::none)
    }
}

/// Checks the server's certificate as libpq does. Without `roots` (`prefer`/`require`
/// without `sslrootcert`) any certificate is accepted; with them, as `verify-ca` (a chain to
/// one of `roots`, valid now, for server authentication) and, with `check_name`,
/// `verify-full` (also names the host: a SAN `dNSName` or `iPAddress` entry; unlike libpq,
/// never the subject's CN). Either way the server must sign the handshake with that
/// certificate's key.
#[derive(Debug)]
struct ServerCheck {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        if self.check_name {
            verify_server_name(&cert, server_name)?;
        }
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

/// What a failed handshake's rustls error means, in words for the person connecting;
/// `None` when it is not about the certificate.
pub(crate) fn describe_certificate_error(
    error: &rustls::Error,
    mode: SslMode,
    host: &str,
    ca: Option<&Path>,
) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = error else {
        return None;
    };
    let ca = ca.map_or_else(|| "the CA file".to_string(), |p| p.display().to_string());
    Some(match cert {
        C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => format!(
            "the server's certificate is not signed by the CA in {ca} (sslmode={mode}); give the CA of this server (--db-ca-file or sslrootcert=), or check that this is the server you meant"
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            let names = match cert {
                C::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                    let names: Vec<&str> = presented.iter().map(|p| presented_name(p)).collect();
                    format!("; it names {}", names.join(", "))
                }
                _ => String::new(),
            };
            format!(
                "the server's certificate does not name the host {host:?} (sslmode=verify-full checks the host against the certificate's subjectAltName{names}); connect by a name the certificate carries"
            )
        }
        C::Expired | C::ExpiredContext { .. } => {
            format!("the server's certificate has expired (sslmode={mode}); renew it on the server")
        }
        C::NotValidYet | C::NotValidYetContext { .. } => format!(
            "the server's certificate is not valid yet (sslmode={mode}); check the clocks of this machine and the server"
        ),
        other => format!("the server's certificate was refused (sslmode={mode}): {other:?}"),
    })
}

/// A name rustls lists a certificate as valid for, without its Debug dress:
/// `DnsName("db-rw")` → `db-rw`, `IpAddress(V4(127.0.0.1))` → `127.0.0.1`.
fn presented_name(presented: &str) -> &str {
    let inner = presented
        .strip_prefix("DnsName(")
        .or_else(|| presented.strip_prefix("IpAddress("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(presented);
    let inner = inner
        .strip_prefix("V4(")
        .or_else(|| inner.strip_prefix("V6("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(inner);
    inner.trim_matches('"')
}

/// Where a CA file is needed and none is given, as an error that says what to give.
pub(crate) fn ca_required(mode: SslMode) -> VaultError {
    VaultError::InvalidInput(format!(
        "sslmode={mode} checks the server's certificate and needs the CA that signs it: pass --db-ca-file or sslrootcert=<file> (for CloudNativePG, `ca.crt` of the cluster's `<cluster>-ca` Secret), or ask for sslmode=require to encrypt without checking"
    ))
}

/// The CA file a connection checks against, loaded once per path and process.
pub(crate) fn verifying_connector(
    path: &Path,
    mode: SslMode,
) -> Result<MakeRustlsConnect, VaultError> {
    type Cache = std::sync::Mutex<std::collections::BTreeMap<(PathBuf, bool), MakeRustlsConnect>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let check_name = mode == SslMode::VerifyFull;
    let key = (path.to_path_buf(), check_name);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(found);
    }
    let roots = load_ca_file(path)?;
    let made = MakeRustlsConnect::verifying(roots, check_name)
        .map_err(|e| VaultError::Database(format!("cannot set up TLS: {e}")))?;
    if let Ok(mut c) = cache.lock() {
        c.insert(key, made.clone());
    }
    Ok(made)
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
    fn presented_names_lose_their_debug_dress() {
        assert_eq!(presented_name("DnsName(\"db-rw.ns.svc\")"), "db-rw.ns.svc");
        assert_eq!(presented_name("IpAddress(V4(127.0.0.1))"), "127.0.0.1");
        assert_eq!(presented_name("other"), "other");
    }

    #[test]
    fn modes_keep_libpq_spellings() {
        for mode in SslMode::ALL {
            assert_eq!(SslMode::parse(mode.as_str()), Some(mode));
        }
        for cb in ChannelBinding::ALL {
            assert_eq!(ChannelBinding::parse(cb.as_str()), Some(cb));
        }
        assert_eq!(SslMode::parse("allow"), None);
        assert_eq!(SslMode::default(), SslMode::Prefer);
        assert_eq!(ChannelBinding::default(), ChannelBinding::Prefer);
        assert!(SslMode::VerifyCa.verifies() && !SslMode::Require.verifies());
    }
}
