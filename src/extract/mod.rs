//! Extractors for host handlers: [`CurrentUser`] (and `Option<CurrentUser>`),
//! [`CurrentUserRecord`], [`RequirePermission`] with the [`permissions`] it can demand,
//! [`RequireAal2`] for sessions that passed a second factor, [`CurrentApiKey`] for
//! machines, and the [`AuthRejection`] they fail with.
//!
//! Each reads what [`AuthLayer`](crate::auth::AuthLayer) left in the request: the layer
//! must wrap every route that uses them (a missing layer fails loudly, naming the fix).

mod aal2;
mod api_key;
mod current_user;
mod feature;
mod permission;
mod rejection;

pub use self::aal2::RequireAal2;
pub use self::api_key::CurrentApiKey;
pub use self::current_user::{CurrentUser, CurrentUserRecord};
pub use self::feature::{AnyPlan, Feature, PaidPlan, RequireFeature, RequirePlan};
pub use self::permission::{Permission, RequirePermission, permissions};
pub use self::rejection::AuthRejection;
