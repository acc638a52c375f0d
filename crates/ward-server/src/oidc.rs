//! People's logins through an OpenID Connect provider: discovery (cached, fetched again
//! when the provider's keys change), the authorization code flow with PKCE (S256), and the
//! ID token's verification (signature by the provider's JWKS, issuer, audience, expiry,
//! nonce). The provider is called through reqwest and never followed through a redirect.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

pub use openidconnect::ClientSecret;

/// Where the provider sends the browser back, under the server's public URL.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// How long a login may take at the provider.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// How the server logs people in.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The issuer, exactly as the provider publishes it.
    pub issuer: String,
    pub client_id: String,
    /// A confidential client's secret (its `Debug` is redacted); `None`: a public client.
    pub client_secret: Option<ClientSecret>,
    /// The scopes asked for besides `openid`, so that the ID token carries the email and
    /// the groups (`groups` is the scope Dex, Okta and Keycloak's group mappers answer).
    pub scopes: Vec<String>,
    /// Put before each of the provider's groups before it is matched with a Team's
    /// `groups` (kube-apiserver's `--oidc-groups-prefix`).
    pub groups_prefix: String,
    /// How long a session lasts after its login.
    pub session_ttl: Duration,
    /// The address browsers reach this server at, without a trailing `/`.
    pub public_url: String,
}

impl OidcConfig {
    /// `<public url>/auth/callback`, the redirect URI registered with the provider.
    pub fn redirect_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url.trim_end_matches('/'))
    }

    /// Whether browsers reach the server over HTTPS (its cookies are then `Secure`).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The ID token's one claim beyond the standard ones: the person's groups.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct GroupsClaim {
    #[serde(default)]
    groups: Vec<String>,
}
impl AdditionalClaims for GroupsClaim {}

type GroupsTokenResponse = StandardTokenResponse<
    IdTokenFields<
        GroupsClaim,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type Client = openidconnect::Client<
    GroupsClaim,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    GroupsTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a login did not go through.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be reached or answers nonsense: not the person's fault.
    #[error("the OpenID provider {issuer}: {message}")]
    Provider { issuer: String, message: String },
    /// The provider, or what it sent, refused this login.
    #[error("{0}")]
    Rejected(String),
}

/// One call to the provider failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// A login to send the browser off with.
pub struct Authorization {
    /// The provider's authorization URL, with the state, nonce and PKCE challenge.
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's `sub`.
    pub subject: String,
    /// The email, unless the provider says it is not verified.
    pub email: Option<String>,
    pub preferred_username: Option<String>,
    pub groups: Vec<String>,
}

/// The login flow of one server, with the provider's metadata cached.
#[derive(Debug)]
pub struct OidcLogin {
    pub config: OidcConfig,
    http: reqwest::Client,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

impl OidcLogin {
    pub fn new(config: OidcConfig) -> Result<OidcLogin, OidcError> {
        let http = reqwest::Client::builder()
            // Following a redirect would let the provider's answers send the server anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Provider {
                issuer: config.issuer.clone(),
                message: format!("cannot make an HTTP client: {e}"),
            })?;
        Ok(OidcLogin {
            config,
            http,
            client: tokio::sync::Mutex::new(None),
        })
    }

    fn provider_error(&self, message: impl std::fmt::Display) -> OidcError {
        OidcError::Provider {
            issuer: self.config.issuer.clone(),
            message: message.to_string(),
        }
    }

    /// The provider's client, discovered once (again when `refresh`).
    async fn client(&self, refresh: bool) -> Result<Arc<Client>, OidcError> {
        let mut cached = self.client.lock().await;
        if let Some(c) = cached.as_ref()
            && !refresh
        {
            return Ok(c.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| self.provider_error(format!("not an issuer URL: {e}")))?;
        let http = self.http_client();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| self.provider_error(format!("discovery failed: {}", chain(&e))))?;
        let redirect = RedirectUrl::new(self.config.redirect_url())
            .map_err(|e| self.provider_error(format!("the redirect URL: {e}")))?;
        let client = Client::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone(),
        )
        .set_redirect_uri(redirect);
        let client = Arc::new(client);
        *cached = Some(client.clone());
        Ok(client)
    }

    fn http_client(
        &self,
    ) -> impl Fn(
        HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send>,
    > + use<> {
        let http = self.http.clone();
        move |request: HttpRequest| {
            let http = http.clone();
            Box::pin(async move {
                let request = reqwest::Request::try_from(request)
                    .map_err(|e| HttpError(format!("request: {e}")))?;
                let response = http
                    .execute(request)
                    .await
                    .map_err(|e| HttpError(chain(&e)))?;
                let mut builder = axum::http::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    builder = builder.header(name, value);
                }
                let body = response.bytes().await.map_err(|e| HttpError(chain(&e)))?;
                builder
                    .body(body.to_vec())
                    .map_err(|e| HttpError(e.to_string()))
            })
        }
    }

    /// A new login: where to send the browser, and what its callback will need.
    pub async fn authorize(&self) -> Result<Authorization, OidcError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's `code` (with the login's PKCE verifier) for an ID token,
    /// verifies it and says who logged in.
    pub async fn complete(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, OidcError> {
        let client = self.client(false).await?;
        let http = self.http_client();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| self.provider_error(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(|e| match &e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    OidcError::Rejected(format!(
                        "the provider refused the code: {}{}",
                        r.error(),
                        r.error_description()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ))
                }
                _ => self.provider_error(format!("the token request failed: {}", chain(&e))),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Rejected("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_string());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rotated its keys since they were read: read them again.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(true).await?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|e| OidcError::Rejected(format!("the ID token: {}", chain(&e))))?
                    .clone()
            }
            Err(e) => {
                return Err(OidcError::Rejected(format!("the ID token: {}", chain(&e))));
            }
        };
        let email = match claims.email_verified() {
            Some(false) => None,
            _ => claims.email().map(|e| e.as_str().to_string()),
        };
        Ok(Identity {
            subject: claims.subject().as_str().to_string(),
            email,
            preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
            groups: claims.additional_claims().groups.clone(),
        })
    }
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
