//! [`RequirePermission`] and the [`Permission`]s it can demand.

use axum::extract::FromRequestParts;
use http::request::Parts;
use uuid::Uuid;

use super::{AuthRejection, CurrentUser, current_user::request_auth};
use crate::Error;

/// A permission that [`RequirePermission`] can demand. The built-in ones are below; a
/// host declares its own the same way:
///
/// ```
/// use portcullis::extract::Permission;
///
/// struct ExportInvoices;
///
/// impl Permission for ExportInvoices {
///     const NAME: &'static str = "invoices:export";
/// }
/// ```
pub trait Permission: Send + Sync + 'static {
    /// The permission's name, as roles list it.
    const NAME: &'static str;
}

macro_rules! markers {
    ($($(#[$doc:meta])* $name:ident => $value:path;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl Permission for $name {
                const NAME: &'static str = $value;
            }
        )*
    };
}

/// The built-in permissions, as types for [`RequirePermission`]:
/// `RequirePermission<permissions::BillingManage>`.
pub mod permissions {
    use super::Permission;

    markers! {
    /// `org:read`.
    OrgRead => crate::policy::roles::ORG_READ;
    /// `org:update`.
    OrgUpdate => crate::policy::roles::ORG_UPDATE;
    /// `org:delete`.
    OrgDelete => crate::policy::roles::ORG_DELETE;
    /// `members:read`.
    MembersRead => crate::policy::roles::MEMBERS_READ;
    /// `members:manage`.
    MembersManage => crate::policy::roles::MEMBERS_MANAGE;
    /// `invitations:manage`.
    InvitationsManage => crate::policy::roles::INVITATIONS_MANAGE;
    /// `billing:manage`.
    BillingManage => crate::policy::roles::BILLING_MANAGE;
    /// `api_keys:manage`.
    ApiKeysManage => crate::policy::roles::API_KEYS_MANAGE;
    }
}

/// Requires permission `P` in the caller's active organization (set with
/// `PATCH /v1/orgs/current`). The membership is re-read from the database on every
/// request, so a removal or a role change takes effect at once, whatever the access token
/// still says. Answers 403 `forbidden` without the permission (or without an active
/// organization), 401 when nobody is signed in.
///
/// ```rust,no_run
/// use axum::{Router, routing::post};
/// use portcullis::{RequirePermission, extract::permissions::BillingManage};
///
/// async fn change_plan(permission: RequirePermission<BillingManage>) -> String {
///     format!("{} may manage billing of {}", permission.user.id(), permission.org_id)
/// }
///
/// let app: Router = Router::new().route("/billing/plan", post(change_plan));
/// ```
#[derive(Debug, Clone)]
pub struct RequirePermission<P> {
    /// The caller.
    pub user: CurrentUser,
    /// The active organization the permission was checked in.
    pub org_id: Uuid,
    /// The caller's current role there.
    pub role: String,
    _permission: std::marker::PhantomData<fn() -> P>,
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for RequirePermission<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let ctx = request_auth(parts)?.ctx.clone();
        let org_id = user.org_id.ok_or_else(|| {
            AuthRejection::Load(Error::forbidden(
                "no active organization; switch to one first",
            ))
        })?;
        let (membership, _) = crate::flows::orgs::authorize(
            &ctx,
            &ctx.db,
            crate::flows::orgs::Caller::of(&user),
            org_id,
            P::NAME,
        )
        .await
        .map_err(|err| match err {
            // Removed since the token was issued: not allowed, rather than "not found".
            Error::NotFound => AuthRejection::Load(Error::forbidden(
                "you are not a member of the active organization",
            )),
            other => AuthRejection::Load(other),
        })?;
        Ok(Self {
            user,
            org_id,
            role: membership.role,
            _permission: std::marker::PhantomData,
        })
    }
}
