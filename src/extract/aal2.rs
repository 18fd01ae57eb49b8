//! [`RequireAal2`]: a route only for sessions that passed a second factor.

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::{AuthRejection, CurrentUser};
use crate::Error;

/// The signed-in user, provided their session passed a second factor (`acr` is `aal2`:
/// a TOTP or recovery code after the first factor, a passkey, or a re-authentication with
/// one). API keys are refused (403 `forbidden`). Answers 403 `mfa_required` otherwise, which tells the page to step up with
/// `POST /reauthenticate` (`{ code }` or a passkey); 401 when nobody is signed in.
///
/// ```rust,no_run
/// use axum::{Router, routing::post};
/// use portcullis::extract::RequireAal2;
///
/// async fn wire_money(RequireAal2(user): RequireAal2) -> String {
///     format!("{} may send money", user.id())
/// }
///
/// let app: Router = Router::new().route("/payments", post(wire_money));
/// ```
#[derive(Debug, Clone)]
pub struct RequireAal2(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for RequireAal2 {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        // A key is no session: it cannot step up, whatever the session that made it proved.
        if user.api_key().is_some() {
            return Err(AuthRejection::Load(Error::forbidden(
                "this needs a signed-in person who passed a second factor, not an API key",
            )));
        }
        if user.is_aal2() {
            Ok(Self(user))
        } else {
            Err(AuthRejection::Load(Error::mfa_required()))
        }
    }
}
