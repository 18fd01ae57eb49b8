//! [`RequireFeature`]: a route for those admitted to a feature.

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::{AuthRejection, CurrentUser};
use crate::Error;

/// A feature a host route can require: name it once with a marker type.
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::extract::{Feature, RequireFeature};
///
/// struct Beta;
/// impl Feature for Beta {
///     const NAME: &'static str = "beta";
/// }
///
/// async fn new_editor(RequireFeature(user, ..): RequireFeature<Beta>) -> String {
///     format!("{} tries the new editor", user.id())
/// }
///
/// let app: Router = Router::new().route("/editor", get(new_editor));
/// ```
pub trait Feature: Send + Sync + 'static {
    /// The feature's name, as declared (`.waitlist("beta")`) or in a plan.
    const NAME: &'static str;
}

/// The signed-in user, provided their token carries feature `F` (an admitted waitlist
/// entry of theirs or of their active organization, or a plan's feature). Answers 403
/// `plan_required` otherwise (a refresh picks up a fresh admission), 401 when nobody is
/// signed in.
#[derive(Debug, Clone)]
pub struct RequireFeature<F>(pub CurrentUser, pub std::marker::PhantomData<fn() -> F>);

impl<S: Send + Sync, F: Feature> FromRequestParts<S> for RequireFeature<F> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if user.has_feature(F::NAME) {
            Ok(Self(user, std::marker::PhantomData))
        } else {
            Err(AuthRejection::Load(Error::PlanRequired(
                format!("this needs the {} feature", F::NAME).into(),
            )))
        }
    }
}
