//! The `features` claim of an access token: what the user, and the organization the
//! session acts in, may use. Two sources make one list:
//!
//! - admitted entries of the waitlists the host declares (`flows::waitlists`);
//! - with billing, the features of each payer's live plan (`trialing`, `active`, or
//!   `past_due` within the host's grace), plus `plan:<id>` naming the plan itself
//!   (`RequirePlan` reads it).
//!
//! Read when a token is minted (sign-in, refresh, switching organization): a webhook's
//! change shows in the next token.

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{Error, context::Context, store};

/// The prefix that names a live plan in the `features` claim (`plan:pro`).
#[cfg(feature = "billing")]
pub(crate) const PLAN_PREFIX: &str = "plan:";

/// The features a token for `user_id`, acting in `org_id`, carries: sorted, no repeats.
pub(crate) async fn of_token(
    ctx: &Context,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    org_id: Option<Uuid>,
) -> Result<Vec<String>, Error> {
    let mut subjects = vec![user_id];
    subjects.extend(org_id);
    // Only declared waitlists count (as only they can be joined).
    let mut features =
        store::waitlists::admitted_features(db, &subjects, &ctx.config.waitlists).await?;
    #[cfg(feature = "billing")]
    features.extend(plan_features(ctx, db, &subjects).await?);
    features.sort();
    features.dedup();
    Ok(features)
}

/// The features (and `plan:<id>`) of the payers' live plans.
#[cfg(feature = "billing")]
pub(crate) async fn plan_features(
    ctx: &Context,
    db: &impl ConnectionTrait,
    payers: &[Uuid],
) -> Result<Vec<String>, Error> {
    let billing = &ctx.config.billing;
    if !billing.enabled() {
        return Ok(Vec::new());
    }
    let now = ctx.now();
    let mut features = Vec::new();
    for subscription in store::billing::live_of(db, payers).await? {
        let in_grace = match (subscription.status.as_str(), subscription.past_due_since) {
            ("trialing" | "active", _) => true,
            ("past_due", Some(since)) => now < since + billing.past_due_grace,
            ("past_due", None) => true,
            _ => false,
        };
        let plan = subscription
            .plan_id
            .as_deref()
            .and_then(|id| billing.plan(id));
        if let (true, Some(plan)) = (in_grace, plan) {
            features.push(format!("{PLAN_PREFIX}{}", plan.id));
            features.extend(plan.features.iter().cloned());
        }
    }
    Ok(features)
}
