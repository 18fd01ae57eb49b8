//! The user APIs of OAuth 2.0 providers without OpenID Connect (GitHub, Discord): who the
//! access token belongs to, and their verified primary email.

use serde::Deserialize;

use super::{
    Identity, OAuthProvider, UserApi,
    client::{HttpError, OAuth, refused, send, unavailable},
};
use crate::Error;

/// The identity from an OAuth 2.0 provider's user API.
pub(super) async fn identify(
    oauth: &OAuth,
    provider: &OAuthProvider,
    api_base: &str,
    api: UserApi,
    access_token: &str,
) -> Result<Identity, Error> {
    // Through the same client and size cap as every other provider call.
    let get = |path: &str| {
        let url = format!("{}{path}", api_base.trim_end_matches('/'));
        let client = oauth.http.clone();
        async move {
            let request = http::Request::get(url)
                .header(
                    http::header::AUTHORIZATION,
                    format!("Bearer {access_token}"),
                )
                .header(http::header::ACCEPT, "application/json")
                .body(Vec::new())
                .map_err(|err| HttpError(err.to_string()))?;
            let response = send(client, request).await?;
            if !response.status().is_success() {
                return Err(HttpError(format!("status {}", response.status())));
            }
            Ok(response.into_body())
        }
    };
    let read = |what: &'static str| move |err: HttpError| unavailable(provider, what, &err);
    let parse = |what: &'static str| {
        move |err: serde_json::Error| refused(provider, &format!("{what}: {err}"))
    };
    match api {
        UserApi::GitHub => {
            #[derive(Deserialize)]
            struct GitHubUser {
                id: u64,
                name: Option<String>,
            }
            #[derive(Deserialize)]
            struct GitHubEmail {
                email: Option<String>,
                primary: bool,
                verified: bool,
            }
            let user: GitHubUser =
                serde_json::from_slice(&get("/user").await.map_err(read("user API"))?)
                    .map_err(parse("user API"))?;
            let emails: Vec<GitHubEmail> =
                serde_json::from_slice(&get("/user/emails").await.map_err(read("emails API"))?)
                    .map_err(parse("emails API"))?;
            let primary = emails.into_iter().find(|e| e.primary && e.email.is_some());
            Ok(Identity {
                subject: user.id.to_string(),
                email_verified: primary.as_ref().is_some_and(|e| e.verified),
                email: primary.and_then(|e| e.email),
                name: user.name,
            })
        }
        UserApi::Discord => {
            #[derive(Deserialize)]
            struct DiscordUser {
                id: String,
                email: Option<String>,
                #[serde(default)]
                verified: Option<bool>,
                global_name: Option<String>,
            }
            let user: DiscordUser =
                serde_json::from_slice(&get("/users/@me").await.map_err(read("user API"))?)
                    .map_err(parse("user API"))?;
            Ok(Identity {
                subject: user.id,
                email_verified: user.verified == Some(true),
                email: user.email,
                name: user.global_name,
            })
        }
    }
}
