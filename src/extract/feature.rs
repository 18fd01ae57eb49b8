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

/// A plan of the host's catalog a route can require: name it once with a marker type.
///
/// ```rust,no_run
/// use axum::{Router, routing::get};
/// use portcullis::extract::{AnyPlan, PaidPlan, RequirePlan};
///
/// struct Pro;
/// impl PaidPlan for Pro {
///     const ID: &'static str = "pro";
/// }
///
/// async fn reports(RequirePlan(user, ..): RequirePlan<Pro>) -> String {
///     format!("{} runs a report", user.id())
/// }
///
/// // Any live plan at all (a paying customer):
/// async fn support(RequirePlan(user, ..): RequirePlan) -> String {
///     format!("{} reaches priority support", user.id())
/// }
///
/// let app: Router = Router::new()
///     .route("/reports", get(reports))
///     .route("/support", get(support));
/// ```
pub trait PaidPlan: Send + Sync + 'static {
    /// The plan's `id` in the catalog; empty for [`AnyPlan`].
    const ID: &'static str;
}

/// Any live plan: the default of [`RequirePlan`].
#[derive(Debug, Clone, Copy)]
pub struct AnyPlan;

impl PaidPlan for AnyPlan {
    const ID: &'static str = "";
}

/// The signed-in user, provided the user's plan, or the active organization's, is live
/// (`trialing`, `active`, or `past_due` within the host's grace) and is `P` (any plan
/// with the default [`AnyPlan`]). Answers 403 `plan_required` otherwise, 401 when nobody
/// is signed in. Read from the token's `features` claim (`plan:<id>`): a subscription
/// that changed shows in the next token (a refresh).
#[derive(Debug, Clone)]
pub struct RequirePlan<P = AnyPlan>(pub CurrentUser, pub std::marker::PhantomData<fn() -> P>);

impl<S: Send + Sync, P: PaidPlan> FromRequestParts<S> for RequirePlan<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let live = user.features.iter().filter_map(|f| f.strip_prefix("plan:"));
        let has = if P::ID.is_empty() {
            live.count() > 0
        } else {
            live.into_iter().any(|id| id == P::ID)
        };
        if has {
            Ok(Self(user, std::marker::PhantomData))
        } else if P::ID.is_empty() {
            Err(AuthRejection::Load(Error::PlanRequired(
                "this needs a subscription".into(),
            )))
        } else {
            Err(AuthRejection::Load(Error::PlanRequired(
                format!("this needs the {} plan", P::ID).into(),
            )))
        }
    }
}
