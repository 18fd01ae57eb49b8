//! The provider plumbing of social sign-in: the HTTP client every provider call goes
//! through (no redirects, timeouts, answers capped at 1 MiB), the discovery documents
//! (cached ten minutes, refetched once when an ID token's key is unknown), the
//! openidconnect and oauth2 clients, and the exchange of a code for a verified identity.
//! `flows::oauth` keeps the flow: state, browser binding, accounts.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
    core::{
        CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
        CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
        CoreSubjectIdentifierType, CoreUserInfoClaims,
    },
};
use serde::Deserialize;

use super::{Identity, OAuthProvider, Protocol};
use crate::Error;

/// Discovery documents (with their keys) are fetched again after this.
const METADATA_TTL: Duration = Duration::from_secs(10 * 60);
/// ID tokens must be signed with the provider's keys: never with the client secret (HMAC),
/// whatever the discovery document offers.
const ASYMMETRIC_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// The largest provider answer read.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The discovery field we read beyond the core ones: whether the provider names itself in
/// its authorization responses (RFC 9207), in which case a response without `iss` is
/// refused.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
struct Rfc9207 {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl openidconnect::AdditionalProviderMetadata for Rfc9207 {}

/// A discovery document, with [`Rfc9207`].
type Metadata = openidconnect::ProviderMetadata<
    Rfc9207,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The providers, the HTTP client that reaches them, and their discovery documents.
pub(crate) struct OAuth {
    providers: Vec<OAuthProvider>,
    pub(super) http: reqwest::Client,
    metadata: RwLock<HashMap<String, (Instant, Metadata)>>,
}

impl OAuth {
    /// `None` when no provider is configured.
    pub(crate) fn new(providers: Vec<OAuthProvider>) -> Result<Option<Self>, String> {
        if providers.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            providers,
            http: crate::delivery::http_client::client()?,
            metadata: RwLock::new(HashMap::new()),
        }))
    }

    /// The configured providers.
    pub(crate) fn providers(&self) -> &[OAuthProvider] {
        &self.providers
    }

    pub(crate) fn provider(&self, name: &str) -> Result<&OAuthProvider, Error> {
        self.providers
            .iter()
            .find(|p| p.name() == name)
            .ok_or(Error::NotFound)
    }

    /// The provider's discovery document (cached; `fresh` fetches it again, for new keys).
    async fn metadata(
        &self,
        provider: &OAuthProvider,
        issuer: &str,
        fresh: bool,
    ) -> Result<Metadata, Error> {
        if !fresh
            && let Ok(cache) = self.metadata.read()
            && let Some((at, metadata)) = cache.get(provider.name())
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|err| Error::Internal(format!("issuer {issuer:?}: {err}").into()))?;
        let http = self.client();
        // openidconnect checks that the document's `issuer` is exactly the configured one.
        let metadata = Metadata::discover_async(issuer_url, &http)
            .await
            .map_err(|err| unavailable(provider, "discovery", &err))?;
        if let Ok(mut cache) = self.metadata.write() {
            cache.insert(
                provider.name().to_owned(),
                (Instant::now(), metadata.clone()),
            );
        }
        Ok(metadata)
    }

    /// The HTTP client, in the shape the oauth2/openidconnect crates call.
    fn client(&self) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture + use<> {
        let client = self.http.clone();
        move |request| Box::pin(send(client.clone(), request))
    }
}

type HttpFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>>;

/// A failed call to a provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(pub(super) String);

pub(super) async fn send(
    client: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|err| HttpError(err.without_url().to_string()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| HttpError(err.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError("provider answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

pub(super) fn unavailable(
    provider: &OAuthProvider,
    what: &str,
    err: &dyn std::fmt::Display,
) -> Error {
    tracing::warn!(provider = provider.name(), error = %err, "{what} at the provider failed");
    Error::Unavailable(format!("{} {what} failed", provider.name()).into())
}

type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An OpenID Connect client for the provider, from its discovery document.
fn oidc_client(provider: &OAuthProvider, metadata: Metadata) -> OidcClient {
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.client_id().to_owned()),
        provider
            .client_secret()
            .map(|s| ClientSecret::new(s.to_owned())),
    )
}

type OAuth2Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth2_client(
    provider: &OAuthProvider,
    redirect_uri: RedirectUrl,
) -> Result<OAuth2Client, Error> {
    let Protocol::OAuth2 {
        authorize_url,
        token_url,
        ..
    } = provider.protocol()
    else {
        return Err(Error::NotFound);
    };
    let bad = |err: oauth2::url::ParseError| Error::Internal(Box::new(err));
    let mut client =
        oauth2::basic::BasicClient::new(oauth2::ClientId::new(provider.client_id().to_owned()))
            .set_auth_uri(oauth2::AuthUrl::new(authorize_url.clone()).map_err(bad)?)
            .set_token_uri(oauth2::TokenUrl::new(token_url.clone()).map_err(bad)?)
            .set_redirect_uri(redirect_uri);
    if let Some(secret) = provider.client_secret() {
        client = client.set_client_secret(oauth2::ClientSecret::new(secret.to_owned()));
    }
    Ok(client)
}

impl OAuth {
    /// Where to send the browser to start signing in with `provider`: the provider's
    /// authorization URL with `state`, `nonce` (OpenID Connect) and a fresh PKCE S256
    /// challenge. Returns the URL and the PKCE verifier to keep for the callback.
    pub(crate) async fn authorization_url(
        &self,
        provider: &OAuthProvider,
        callback_url: String,
        state: &str,
        nonce: &str,
    ) -> Result<(String, String), Error> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect_uri =
            RedirectUrl::new(callback_url).map_err(|err| Error::Internal(Box::new(err)))?;
        let scopes = provider
            .scope_list()
            .iter()
            .filter(|scope| scope.as_str() != "openid")
            .map(|scope| Scope::new(scope.clone()));
        let location = match provider.protocol() {
            Protocol::OpenIdConnect { issuer } => {
                let metadata = self.metadata(provider, issuer, false).await?;
                let client = oidc_client(provider, metadata).set_redirect_uri(redirect_uri);
                let state = state.to_owned();
                let nonce = nonce.to_owned();
                let (url, _, _) = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || CsrfToken::new(state),
                        move || Nonce::new(nonce),
                    )
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                url.to_string()
            }
            Protocol::OAuth2 { .. } => {
                let client = oauth2_client(provider, redirect_uri)?;
                let state = state.to_owned();
                let (url, _) = client
                    .authorize_url(move || CsrfToken::new(state))
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                url.to_string()
            }
        };
        Ok((location, verifier.secret().clone()))
    }

    /// Whether `provider` promises to name itself in its authorization responses (RFC
    /// 9207), so that a response without `iss` must be refused. Always false for OAuth
    /// 2.0 providers, whose stored issuer is our own label for them.
    pub(crate) async fn requires_iss(&self, provider: &OAuthProvider) -> Result<bool, Error> {
        match provider.protocol() {
            Protocol::OpenIdConnect { issuer } => Ok(self
                .metadata(provider, issuer, false)
                .await?
                .additional_metadata()
                .authorization_response_iss_parameter_supported),
            Protocol::OAuth2 { .. } => Ok(false),
        }
    }

    /// Exchanges the code (with the PKCE verifier) and establishes who the person is: a
    /// fully validated ID token (plus userinfo for missing claims), or the provider's user
    /// API. Any failure fails closed.
    pub(crate) async fn exchange(
        &self,
        provider: &OAuthProvider,
        callback_url: String,
        code: String,
        pkce_verifier: &str,
        nonce: &str,
        leeway_secs: i64,
    ) -> Result<Identity, Error> {
        let oauth = self;
        let redirect_uri =
            RedirectUrl::new(callback_url).map_err(|err| Error::Internal(Box::new(err)))?;
        let http = oauth.client();
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        match provider.protocol() {
            Protocol::OpenIdConnect { issuer } => {
                let metadata = oauth.metadata(provider, issuer, false).await?;
                let client = oidc_client(provider, metadata).set_redirect_uri(redirect_uri);
                let tokens = client
                    .exchange_code(AuthorizationCode::new(code))
                    .map_err(|err| Error::Internal(Box::new(err)))?
                    .set_pkce_verifier(verifier)
                    .request_async(&http)
                    .await
                    .map_err(|err| token_error(provider, &err))?;
                let id_token = tokens
                    .id_token()
                    .ok_or_else(|| refused(provider, "no ID token"))?;
                let nonce = Nonce::new(nonce.to_owned());
                let refreshed;
                let first = client.id_token_verifier().set_allowed_algs(ASYMMETRIC_ALGS);
                let (claims, verifier) = match id_token.claims(&first, &nonce) {
                    Ok(claims) => (claims.clone(), first),
                    Err(error) => {
                        // The provider may have rotated its keys since we cached them.
                        let metadata = oauth.metadata(provider, issuer, true).await?;
                        refreshed = oidc_client(provider, metadata);
                        let retry = refreshed
                            .id_token_verifier()
                            .set_allowed_algs(ASYMMETRIC_ALGS);
                        let claims = id_token
                            .claims(&retry, &nonce)
                            .cloned()
                            .map_err(|_| refused(provider, &format!("ID token: {error}")))?;
                        (claims, retry)
                    }
                };
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let iat = claims.issue_time().timestamp();
                let leeway = leeway_secs;
                if iat > now + leeway || iat < now - 600 - leeway {
                    return Err(refused(provider, "ID token issued at an implausible time"));
                }
                if let Some(expected) = claims.access_token_hash() {
                    let alg = id_token
                        .signing_alg()
                        .map_err(|err| refused(provider, &err.to_string()))?;
                    let key = id_token
                        .signing_key(&verifier)
                        .map_err(|err| refused(provider, &err.to_string()))?;
                    let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                        .map_err(|err| refused(provider, &err.to_string()))?;
                    if actual != *expected {
                        return Err(refused(provider, "access token does not match at_hash"));
                    }
                }
                let subject = claims.subject().as_str().to_owned();
                let mut identity = Identity {
                    subject,
                    email: claims.email().map(|e| e.as_str().to_owned()),
                    email_verified: claims.email_verified() == Some(true),
                    name: claims
                        .name()
                        .and_then(|n| n.get(None))
                        .map(|n| n.as_str().to_owned()),
                };
                // Many providers keep the email for userinfo.
                if identity.email.is_none()
                    && let Ok(request) = client.user_info(
                        tokens.access_token().to_owned(),
                        Some(claims.subject().clone()),
                    )
                {
                    let info: CoreUserInfoClaims = request
                        .request_async(&http)
                        .await
                        .map_err(|err| refused(provider, &format!("userinfo: {err}")))?;
                    identity.email = info.email().map(|e| e.as_str().to_owned());
                    identity.email_verified = info.email_verified() == Some(true);
                    if identity.name.is_none() {
                        identity.name = info
                            .name()
                            .and_then(|n| n.get(None))
                            .map(|n| n.as_str().to_owned());
                    }
                }
                Ok(identity)
            }
            Protocol::OAuth2 { api_base, api, .. } => {
                let client = oauth2_client(provider, redirect_uri)?;
                let tokens = client
                    .exchange_code(oauth2::AuthorizationCode::new(code))
                    .set_pkce_verifier(oauth2::PkceCodeVerifier::new(pkce_verifier.to_owned()))
                    .request_async(&http)
                    .await
                    .map_err(|err| token_error(provider, &err))?;
                super::user_api::identify(
                    oauth,
                    provider,
                    api_base,
                    *api,
                    tokens.access_token().secret(),
                )
                .await
            }
        }
    }
}

pub(crate) fn refused(provider: &OAuthProvider, why: &str) -> Error {
    tracing::warn!(provider = provider.name(), why, "social sign-in refused");
    Error::InvalidCredentials
}

fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    provider: &OAuthProvider,
    err: &oauth2::RequestTokenError<RE, T>,
) -> Error {
    match err {
        oauth2::RequestTokenError::ServerResponse(_) => {
            tracing::info!(provider = provider.name(), error = %err, "the provider refused the code");
            Error::TokenInvalid
        }
        // An answer we cannot read (a malformed or non-conforming ID token among it) is
        // not an identity.
        oauth2::RequestTokenError::Parse(..) => refused(provider, &err.to_string()),
        _ => unavailable(provider, "token exchange", err),
    }
}
