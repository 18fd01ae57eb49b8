//! Organizations: create, read, rename, delete; members and their roles; invitations;
//! the session's active organization.
//!
//! Every operation on an organization re-reads the caller's membership of *that*
//! organization from the database: non-members are told it does not exist (404), members
//! without the permission get 403. Membership changes take the organization's row lock
//! first, so rules that span rows (the last owner stays an owner) hold under concurrency.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    Error,
    audit::AuditEvent,
    audit::AuditKind,
    client::ClientInfo,
    context::Context,
    crypto::jwt::{ApiKeyIdentity, Claims},
    delivery::Message,
    entity::{invitation, membership, organization, user},
    flows::{
        email_address::normalize_email,
        one_time::{self, Purpose},
        profile,
        sessions::{self, Grant},
        users,
    },
    origin,
    policy::roles::{self, OWNER, Role},
    rate_limit::Limit,
    store,
};

/// How long an invitation can be accepted.
pub(crate) const INVITATION_DAYS: i64 = 7;

/// Who acts on an organization: the user (or an API key), and whether their session (or
/// the session that made the key) passed a second factor: organizations may require one.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) id: Uuid,
    pub(crate) aal2: bool,
    /// The API key the request authenticated with, if any: it limits what may be done.
    pub(crate) key: Option<ApiKeyIdentity>,
}

impl Caller {
    /// The caller behind a verified access token or API key.
    pub(crate) fn of(claims: &Claims) -> Self {
        Self {
            id: claims.sub,
            aal2: claims.is_aal2(),
            key: claims.api_key.clone(),
        }
    }

    /// Host code acting from Rust, with no session to judge.
    pub(crate) fn trusted(id: Uuid) -> Self {
        Self {
            id,
            aal2: true,
            key: None,
        }
    }
}

/// The name an organization key's stand-in role carries.
const API_KEY_ROLE: &str = "api_key";

/// The caller's membership of `org_id` and its role, provided it grants `permission`.
/// Non-members get [`Error::NotFound`], members without the permission [`Error::Forbidden`],
/// members of an organization that requires a second factor, from a session that did not
/// pass one, [`Error::MfaRequired`].
///
/// An API key never does more than its scopes: a user key is its owner's membership
/// narrowed to them; an organization key acts in its own organization only, as a stand-in
/// member ranked below every role (it can grant no role and manage nobody) holding exactly
/// its scopes.
pub(crate) async fn authorize(
    ctx: &Context,
    db: &impl ConnectionTrait,
    caller: Caller,
    org_id: Uuid,
    permission: &str,
) -> Result<(membership::Model, Role), Error> {
    let scoped_out = || Error::forbidden(format!("this API key is not allowed {permission}"));
    if let Some(key) = &caller.key
        && let Some(key_org) = key.org_id
    {
        if key_org != org_id {
            return Err(Error::NotFound);
        }
        let scopes = key.scopes.clone().unwrap_or_default();
        if !scopes.iter().any(|s| s == permission) {
            return Err(scoped_out());
        }
        if !caller.aal2 && requires_mfa(db, org_id).await? {
            return Err(Error::mfa_required());
        }
        let now = ctx.now();
        let stand_in = membership::Model {
            org_id,
            user_id: caller.id,
            role: API_KEY_ROLE.into(),
            created_at: now,
            updated_at: now,
        };
        return Ok((stand_in, Role::new(API_KEY_ROLE, 0, scopes)));
    }
    let membership = store::orgs::membership(db, org_id, caller.id)
        .await?
        .ok_or(Error::NotFound)?;
    if !caller.aal2 && requires_mfa(db, org_id).await? {
        return Err(Error::mfa_required());
    }
    let role = ctx
        .roles
        .get(&membership.role)
        .cloned()
        .ok_or_else(|| Error::forbidden("your role is not defined in this deployment"))?;
    if !role.grants(permission) {
        return Err(Error::forbidden(format!(
            "this needs the {permission} permission"
        )));
    }
    if caller
        .key
        .as_ref()
        .and_then(|key| key.scopes.as_ref())
        .is_some_and(|scopes| !scopes.iter().any(|s| s == permission))
    {
        return Err(scoped_out());
    }
    Ok((membership, role))
}

/// The member count changes in this transaction: the organization's per-seat
/// subscriptions are marked with it, and the seat task tells Stripe after the commit
/// (`ctx.seats_changed`), so the membership change never waits for Stripe.
async fn members_changed(
    ctx: &Context,
    txn: &impl ConnectionTrait,
    org_id: Uuid,
) -> Result<(), Error> {
    #[cfg(feature = "billing")]
    if ctx.stripe.is_some() {
        store::billing::mark_seats_pending(txn, org_id).await?;
    }
    #[cfg(not(feature = "billing"))]
    let _ = (ctx, txn, org_id);
    Ok(())
}

/// Whether the organization requires its members to have passed a second factor.
pub(crate) async fn requires_mfa(db: &impl ConnectionTrait, org_id: Uuid) -> Result<bool, Error> {
    Ok(store::orgs::find_org(db, org_id)
        .await?
        .is_some_and(|org| org.require_mfa))
}

/// Whether `caller` may use `permission` in `org_id` (for host code, from Rust).
pub(crate) async fn has_permission(
    ctx: &Context,
    caller: Caller,
    org_id: Uuid,
    permission: &str,
) -> Result<bool, Error> {
    match authorize(ctx, &ctx.db, caller, org_id, permission).await {
        Ok(_) => Ok(true),
        Err(Error::NotFound | Error::Forbidden(_) | Error::MfaRequired(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// The caller's standing in the session's active organization.
pub(crate) struct Active {
    pub(crate) membership: membership::Model,
    /// What the role grants; empty while `mfa_required`.
    pub(crate) permissions: Vec<String>,
    /// The organization requires a second factor this session has not passed: none of
    /// the permissions can be used until it does.
    pub(crate) mfa_required: bool,
}

/// The caller's membership of the session's active organization and the permissions its
/// role grants, read now (a role changed a second ago shows at once); `None` without an
/// active organization or once removed from it.
pub(crate) async fn active_permissions(
    ctx: &Context,
    claims: &Claims,
) -> Result<Option<Active>, Error> {
    let Some(org_id) = claims.org_id else {
        return Ok(None);
    };
    let Some(membership) = store::orgs::membership(&ctx.db, org_id, claims.sub).await? else {
        return Ok(None);
    };
    let mfa_required = !claims.is_aal2() && requires_mfa(&ctx.db, org_id).await?;
    let permissions = if mfa_required {
        Vec::new()
    } else {
        ctx.roles
            .get(&membership.role)
            .map(|role| role.permissions.to_vec())
            .unwrap_or_default()
    };
    Ok(Some(Active {
        membership,
        permissions,
        mfa_required,
    }))
}

/// The caller's organizations with their role in each, oldest membership first.
pub(crate) async fn list(
    ctx: &Context,
    user_id: Uuid,
) -> Result<Vec<(membership::Model, organization::Model)>, Error> {
    Ok(store::orgs::memberships_of(&ctx.db, user_id).await?)
}

/// An organization and the caller's membership of it (`org:read`).
pub(crate) async fn read(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
) -> Result<(organization::Model, membership::Model), Error> {
    let (membership, _) =
        authorize(ctx, &ctx.db, Caller::of(claims), org_id, roles::ORG_READ).await?;
    let org = store::orgs::find_org(&ctx.db, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((org, membership))
}

/// An organization's members with their accounts, oldest first (`members:read`).
pub(crate) async fn members(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
) -> Result<Vec<(membership::Model, user::Model)>, Error> {
    authorize(
        ctx,
        &ctx.db,
        Caller::of(claims),
        org_id,
        roles::MEMBERS_READ,
    )
    .await?;
    Ok(store::orgs::members(&ctx.db, org_id).await?)
}

/// An organization's pending invitations, newest first (`invitations:manage`).
pub(crate) async fn invitations(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
) -> Result<Vec<invitation::Model>, Error> {
    authorize(
        ctx,
        &ctx.db,
        Caller::of(claims),
        org_id,
        roles::INVITATIONS_MANAGE,
    )
    .await?;
    Ok(store::orgs::pending_invitations(&ctx.db, org_id, ctx.now()).await?)
}

/// A slug from a name: lower-case ASCII letters and digits, single dashes.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(48).collect();
    if slug.is_empty() {
        "org".into()
    } else {
        slug.trim_end_matches('-').to_owned()
    }
}

pub(crate) fn check_slug(slug: &str) -> Result<String, Error> {
    let slug = slug.trim().to_owned();
    let ok = (2..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(slug)
    } else {
        Err(Error::invalid_request(
            "slug: 2 to 64 of a-z 0-9 -, no dash at either end",
        ))
    }
}

pub(crate) fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name: 1 to 100 characters, no control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creates an organization; the caller becomes its owner.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn create(
    ctx: &Context,
    user_id: Uuid,
    name: &str,
    slug: Option<&str>,
    client: &ClientInfo,
) -> Result<(organization::Model, membership::Model), Error> {
    let name = check_name(name)?;
    let explicit = slug.map(check_slug).transpose()?;
    let now = ctx.now();
    // A derived slug that is taken gets a short random suffix; an explicit one is a 409.
    let candidates = match &explicit {
        Some(slug) => vec![slug.clone()],
        None => {
            let base = slugify(&name);
            let suffix = crypto_suffix();
            vec![base.clone(), format!("{base}-{suffix}")]
        }
    };
    for slug in candidates {
        let org = organization::Model {
            id: Uuid::now_v7(),
            name: name.clone(),
            slug,
            metadata: "{}".into(),
            require_mfa: false,
            created_at: now,
            updated_at: now,
        };
        let owner = membership::Model {
            org_id: org.id,
            user_id,
            role: OWNER.into(),
            created_at: now,
            updated_at: now,
        };
        let txn = store::begin(&ctx.db).await?;
        let inserted = store::orgs::insert_org(&txn, org.clone()).await;
        match inserted {
            Err(err) if store::is_unique_violation(&err) => continue,
            other => other?,
        }
        store::orgs::insert_membership(&txn, owner.clone()).await?;
        txn.commit().await?;
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::OrgCreated)
                    .user(user_id)
                    .client(client)
                    .detail("org_id", org.id.to_string()),
            )
            .await;
        return Ok((org, owner));
    }
    Err(Error::Conflict("that slug is taken".into()))
}

fn crypto_suffix() -> String {
    crate::crypto::hex(&crate::crypto::random_bytes::<2>())
}

/// The changes `PATCH /v1/orgs/{id}` may make.
pub(crate) struct Update {
    pub(crate) name: Option<String>,
    pub(crate) slug: Option<String>,
    pub(crate) metadata: Option<serde_json::Value>,
    /// Whether members need a second factor: owners only, from a fresh session that
    /// passed one (so an owner cannot lock everyone out, themselves included).
    pub(crate) require_mfa: Option<bool>,
}

/// Renames an organization (or changes its slug or metadata): `org:update`; its
/// second-factor requirement: owners, from a fresh `aal2` session.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn update(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    change: Update,
    client: &ClientInfo,
) -> Result<(organization::Model, Option<String>), Error> {
    let user_id = claims.sub;
    let (membership, _) =
        authorize(ctx, &ctx.db, Caller::of(claims), org_id, roles::ORG_UPDATE).await?;
    if let Some(require_mfa) = change.require_mfa {
        if membership.role != OWNER {
            return Err(Error::forbidden(
                "only an owner may change the second-factor requirement",
            ));
        }
        sessions::require_fresh(ctx, claims.auth_time)?;
        if require_mfa && !claims.is_aal2() {
            return Err(Error::MfaRequired(
                "turn on two-step verification and sign in with it first".into(),
            ));
        }
    }
    let before = store::orgs::find_org(&ctx.db, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    let change = store::orgs::OrgChange {
        require_mfa: change.require_mfa,
        name: change.name.as_deref().map(check_name).transpose()?,
        slug: change.slug.as_deref().map(check_slug).transpose()?,
        metadata: change
            .metadata
            .map(|value| profile::metadata(Some(value)))
            .transpose()?,
        now: ctx.now(),
    };
    store::orgs::update_org(&ctx.db, org_id, change)
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                Error::Conflict("that slug is taken".into())
            } else {
                err.into()
            }
        })?;
    let org = store::orgs::find_org(&ctx.db, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    if org.require_mfa != before.require_mfa {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::OrgMfaRequirementChanged)
                    .user(user_id)
                    .client(client)
                    .detail("org_id", org_id.to_string())
                    .detail("require_mfa", org.require_mfa),
            )
            .await;
    }
    let role = store::orgs::membership(&ctx.db, org_id, user_id)
        .await?
        .map(|m| m.role);
    Ok((org, role))
}

/// Deletes an organization: `org:delete` (owners), from a fresh session.
#[tracing::instrument(skip_all, fields(user.id = %actor.sub, org.id = %org_id))]
pub(crate) async fn delete(
    ctx: &Context,
    actor: &Claims,
    org_id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let user_id = actor.sub;
    authorize(ctx, &ctx.db, Caller::of(actor), org_id, roles::ORG_DELETE).await?;
    sessions::require_fresh(ctx, actor.auth_time)?;
    let txn = store::begin(&ctx.db).await?;
    store::orgs::clear_active_org(&txn, org_id, None).await?;
    store::orgs::delete_org(&txn, org_id).await?;
    // Its API keys go with it; the tombstone ends them on every instance.
    let buried_at = store::api_keys::bury(&txn, org_id, "organization").await?;
    txn.commit().await?;
    ctx.revocation.set_cutoff(org_id, buried_at);
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::OrgDeleted)
                .user(user_id)
                .client(client)
                .detail("org_id", org_id.to_string()),
        )
        .await;
    Ok(())
}

/// Changes a member's role: `members:manage`; never one's own, never to a role ranked above
/// the caller's, never for someone ranked above the caller, and never the last owner's.
/// Making someone an owner or demoting an owner needs a fresh session.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn change_role(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    target: Uuid,
    role: &str,
    client: &ClientInfo,
) -> Result<membership::Model, Error> {
    let new_role = ctx
        .roles
        .get(role)
        .cloned()
        .ok_or_else(|| Error::invalid_request("role: unknown role"))?;
    let txn = store::begin(&ctx.db).await?;
    store::orgs::lock_org(&txn, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    let actor = claims.sub;
    let (_, actor_role) =
        authorize(ctx, &txn, Caller::of(claims), org_id, roles::MEMBERS_MANAGE).await?;
    if actor == target {
        return Err(Error::forbidden("nobody changes their own role"));
    }
    let current = store::orgs::membership(&txn, org_id, target)
        .await?
        .ok_or(Error::NotFound)?;
    let current_rank = ctx.roles.get(&current.role).map_or(0, |r| r.rank);
    if new_role.rank > actor_role.rank || current_rank > actor_role.rank {
        return Err(Error::forbidden(
            "you cannot grant or change a role above your own",
        ));
    }
    if new_role.name == OWNER || current.role == OWNER {
        // Ownership changes hands: only someone who signed in a moment ago.
        sessions::require_fresh(ctx, claims.auth_time)?;
    }
    if current.role == OWNER
        && new_role.name != OWNER
        && store::orgs::count_with_role(&txn, org_id, OWNER).await? <= 1
    {
        return Err(Error::Conflict("the last owner cannot be demoted".into()));
    }
    let now = ctx.now();
    store::orgs::set_role(&txn, org_id, target, &new_role.name, now).await?;
    txn.commit().await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::RoleChanged)
                .user(target)
                .client(client)
                .detail("org_id", org_id.to_string())
                .detail("by", actor.to_string())
                .detail("from", current.role.clone())
                .detail("to", new_role.name.clone()),
        )
        .await;
    Ok(membership::Model {
        role: new_role.name,
        updated_at: now,
        ..current
    })
}

/// Removes a member: `members:manage` for someone ranked at or below the caller, or anyone
/// for themselves (leaving); never the last owner.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn remove(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    target: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let actor = claims.sub;
    let txn = store::begin(&ctx.db).await?;
    store::orgs::lock_org(&txn, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    let current = if actor == target {
        store::orgs::membership(&txn, org_id, target)
            .await?
            .ok_or(Error::NotFound)?
    } else {
        let (_, actor_role) =
            authorize(ctx, &txn, Caller::of(claims), org_id, roles::MEMBERS_MANAGE).await?;
        let current = store::orgs::membership(&txn, org_id, target)
            .await?
            .ok_or(Error::NotFound)?;
        if ctx.roles.get(&current.role).map_or(0, |r| r.rank) > actor_role.rank {
            return Err(Error::forbidden(
                "you cannot remove someone ranked above you",
            ));
        }
        if current.role == OWNER {
            // Removing an owner is demoting one, all the way.
            sessions::require_fresh(ctx, claims.auth_time)?;
        }
        current
    };
    if current.role == OWNER && store::orgs::count_with_role(&txn, org_id, OWNER).await? <= 1 {
        return Err(Error::Conflict(
            "the last owner cannot leave; make someone else owner first".into(),
        ));
    }
    store::orgs::delete_membership(&txn, org_id, target).await?;
    store::orgs::clear_active_org(&txn, org_id, Some(target)).await?;
    members_changed(ctx, &txn, org_id).await?;
    txn.commit().await?;
    ctx.seats_changed.notify_one();
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::MemberRemoved)
                .user(target)
                .client(client)
                .detail("org_id", org_id.to_string())
                .detail("by", actor.to_string()),
        )
        .await;
    Ok(())
}

/// Invites `email` with `role`: `invitations:manage`, from an inviter whose own address is
/// verified, never to a role ranked above the inviter's. Emails a single-use link valid
/// for seven days, counted against the per-IP, per-recipient, per-sender and global email
/// limits like every other email (an invitation carries text the inviter chose).
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn invite(
    ctx: &Arc<Context>,
    claims: &Claims,
    org_id: Uuid,
    email: &str,
    role: &str,
    client: &ClientInfo,
) -> Result<invitation::Model, Error> {
    let actor = claims.sub;
    let email = normalize_email(email)?;
    let role = ctx
        .roles
        .get(role)
        .cloned()
        .ok_or_else(|| Error::invalid_request("role: unknown role"))?;
    let (_, actor_role) = authorize(
        ctx,
        &ctx.db,
        Caller::of(claims),
        org_id,
        roles::INVITATIONS_MANAGE,
    )
    .await?;
    if role.rank > actor_role.rank {
        return Err(Error::forbidden(
            "you cannot invite to a role above your own",
        ));
    }
    if role.name == OWNER {
        // An invitation to own is ownership changing hands, as a promotion would be.
        sessions::require_fresh(ctx, claims.auth_time)?;
    }
    let inviter = store::users::find(&ctx.db, actor)
        .await?
        .ok_or(Error::Unauthorized)?;
    if inviter.email_verified_at.is_none() {
        // A brand-new unverified account must not mail strangers in our name.
        return Err(Error::EmailNotVerified);
    }
    let org = store::orgs::find_org(&ctx.db, org_id)
        .await?
        .ok_or(Error::NotFound)?;
    ctx.throttle
        .check(Limit::InvitationSendPerIp, &client.ip_key(), client)
        .await?;
    ctx.throttle
        .check(Limit::InvitationSendPerSender, &actor.to_string(), client)
        .await?;
    ctx.throttle
        .check(Limit::EmailSendGlobal, "", client)
        .await?;
    ctx.throttle
        .check(Limit::InvitationSendPerRecipient, &email, client)
        .await?;
    let now = ctx.now();
    let row = invitation::Model {
        id: Uuid::now_v7(),
        org_id,
        email: email.clone(),
        role: role.name.clone(),
        inviter_id: Some(actor),
        created_at: now,
        expires_at: now + time::Duration::days(INVITATION_DAYS),
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    // The invitation, its token and the email carrying it commit together.
    let identifier = format!("{org_id}:{email}");
    one_time::supersede(ctx, Purpose::Invitation, &identifier).await?;
    let txn = store::begin(&ctx.db).await?;
    store::orgs::insert_invitation(&txn, row.clone()).await?;
    // The token is a one-time secret of its own purpose, naming this invitation.
    let token = one_time::issue(
        ctx,
        &txn,
        Purpose::Invitation,
        None,
        &identifier,
        std::time::Duration::from_secs(u64::try_from(INVITATION_DAYS).unwrap_or(7) * 24 * 3600),
        Some(serde_json::json!({ "invitation_id": row.id })),
    )
    .await?;
    let page = ctx
        .config
        .email
        .invitation_accept_url
        .clone()
        .unwrap_or_else(|| format!("{}/accept-invitation", ctx.origins.issuer));
    let link = origin::with_query(&page, "token", &token);
    let organization = name_for_email(&org.name);
    let message = ctx.outbox.render(
        &email,
        &Message::Invitation {
            organization: &organization,
            role: &role.name,
            link: &link,
        },
        &ctx.branding_for(client.app.as_deref()),
    );
    let expires = ctx.after(std::time::Duration::from_secs(
        u64::try_from(INVITATION_DAYS).unwrap_or(7) * 24 * 3600,
    ));
    ctx.outbox
        .send_on_commit(txn, message, None, Some(expires))
        .await?;
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::InvitationSent)
                .user(actor)
                .client(client)
                .detail("org_id", org_id.to_string())
                .detail("role", role.name.clone()),
        )
        .await;
    Ok(row)
}

/// An organization's name as an email may carry it: the name is the inviter's text, so it
/// is kept plain (letters, digits, spaces and a little punctuation: nothing a mail client
/// turns into a link or markup) and short.
pub(crate) fn name_for_email(name: &str) -> String {
    const MAX: usize = 40;
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_&'(),!".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let plain = words.join(" ");
    if plain.chars().count() <= MAX {
        return if plain.is_empty() {
            "an organization".to_owned()
        } else {
            plain
        };
    }
    let cut: String = plain.chars().take(MAX - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Revokes a pending invitation: `invitations:manage`.
#[tracing::instrument(skip_all, fields(user.id = %claims.sub, org.id = %org_id))]
pub(crate) async fn revoke_invitation(
    ctx: &Context,
    claims: &Claims,
    org_id: Uuid,
    invitation_id: Uuid,
    client: &ClientInfo,
) -> Result<(), Error> {
    let actor = claims.sub;
    authorize(
        ctx,
        &ctx.db,
        Caller::of(claims),
        org_id,
        roles::INVITATIONS_MANAGE,
    )
    .await?;
    let invitation = store::orgs::find_invitation(&ctx.db, invitation_id)
        .await?
        .filter(|invitation| invitation.org_id == org_id)
        .ok_or(Error::NotFound)?;
    if !store::orgs::revoke_invitation(&ctx.db, invitation.id, ctx.now()).await? {
        return Err(Error::Conflict(
            "the invitation is no longer pending".into(),
        ));
    }
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::InvitationRevoked)
                .user(actor)
                .client(client)
                .detail("org_id", org_id.to_string())
                .detail("invitation_id", invitation.id.to_string()),
        )
        .await;
    Ok(())
}

/// What accepting an invitation ends in.
pub(crate) enum Accepted {
    /// The signed-in user joined.
    Joined(membership::Model),
    /// Signed out: the invited address was signed in (created if new) and joined.
    SignedIn(Box<Grant>, membership::Model),
}

/// Accepts an invitation. Signed in, the caller's verified email must be the invited one.
/// Signed out, accepting is a one-time sign-in only for an address that has no account
/// yet: an invitation is not a sign-in link for an existing account, whose owner signs in
/// first (403 `reauthentication_required`).
#[tracing::instrument(skip_all)]
pub(crate) async fn accept(
    ctx: &Context,
    token: &str,
    caller: Option<&Claims>,
    client: &ClientInfo,
) -> Result<Accepted, Error> {
    ctx.throttle
        .check(Limit::RedeemPerIp, &client.ip_key(), client)
        .await?;
    let txn = store::begin(&ctx.db).await?;
    let secret = one_time::consume(&txn, Purpose::Invitation, token, ctx.now()).await?;
    let invitation_id = secret
        .data
        .as_deref()
        .and_then(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .and_then(|data| {
            data["invitation_id"]
                .as_str()
                .and_then(|id| id.parse::<Uuid>().ok())
        })
        .ok_or(Error::TokenInvalid)?;
    let invitation = store::orgs::find_invitation(&txn, invitation_id)
        .await?
        .ok_or(Error::TokenInvalid)?;
    let now = ctx.now();
    if invitation.revoked_at.is_some() || invitation.accepted_at.is_some() {
        return Err(Error::TokenInvalid);
    }
    if invitation.expires_at <= now {
        return Err(Error::TokenExpired);
    }
    store::orgs::lock_org(&txn, invitation.org_id)
        .await?
        .ok_or(Error::TokenInvalid)?;

    let mut claim = None;
    let user = match caller {
        Some(claims) => {
            let user = store::users::find(&txn, claims.sub)
                .await?
                .ok_or(Error::Unauthorized)?;
            // Bound to the invited address, and only a verified one proves it.
            if user.email.as_deref() != Some(invitation.email.as_str())
                || user.email_verified_at.is_none()
            {
                return Err(Error::forbidden(
                    "this invitation is for another (verified) email address",
                ));
            }
            user
        }
        None => match store::users::find_by_email(&txn, &invitation.email).await? {
            // A real account: its owner signs in first. Nothing was consumed: the
            // transaction rolls back with this answer.
            Some(user) if user.email_verified_at.is_some() => {
                return Err(Error::ReauthenticationRequired(
                    "this address has an account: sign in to it, then accept the invitation".into(),
                ));
            }
            // An account that only claims the address, unverified: the link proves the
            // mailbox, so it is taken back from whoever registered it (everything they
            // added goes) and signed in like a new one.
            Some(user) => {
                claim = users::claim_unverified(&txn, &user, false).await?;
                store::users::mark_email_verified(&txn, user.id, now).await?;
                store::users::find(&txn, user.id)
                    .await?
                    .ok_or(Error::TokenInvalid)?
            }
            None => create_invited(&txn, &invitation.email, now).await?,
        },
    };
    if user.disabled_at.is_some() {
        return Err(Error::UserDisabled);
    }
    if !store::orgs::accept_invitation(&txn, invitation.id, user.id, now).await? {
        return Err(Error::TokenInvalid);
    }
    let membership = match store::orgs::membership(&txn, invitation.org_id, user.id).await? {
        Some(existing) => existing,
        None => {
            let row = membership::Model {
                org_id: invitation.org_id,
                user_id: user.id,
                role: invitation.role.clone(),
                created_at: now,
                updated_at: now,
            };
            store::orgs::insert_membership(&txn, row.clone()).await?;
            members_changed(ctx, &txn, invitation.org_id).await?;
            row
        }
    };
    let outcome = if caller.is_some() {
        txn.commit().await?;
        Accepted::Joined(membership.clone())
    } else {
        // A new account (or one just taken back) for the invited, now proven, address.
        let has_password = store::users::password_hash(&txn, user.id).await?.is_some();
        let grant =
            sessions::start(ctx, &txn, user, has_password, sessions::INVITATION, client).await?;
        txn.commit().await?;
        users::claimed(ctx, grant.user.id, claim, "invitation", client).await;
        Accepted::SignedIn(Box::new(grant), membership.clone())
    };
    ctx.seats_changed.notify_one();
    ctx.auditor
        .record(
            AuditEvent::new(AuditKind::InvitationAccepted)
                .user(membership.user_id)
                .client(client)
                .detail("org_id", membership.org_id.to_string())
                .detail("role", membership.role.clone()),
        )
        .await;
    Ok(outcome)
}

async fn create_invited(
    txn: &impl ConnectionTrait,
    email: &str,
    now: time::OffsetDateTime,
) -> Result<user::Model, Error> {
    let row = user::Model {
        email: Some(email.to_owned()),
        email_verified_at: Some(now),
        ..crate::flows::users::blank_row(now)
    };
    store::users::insert_in(txn, row, None)
        .await
        .map_err(|err| {
            if store::is_unique_violation(&err) {
                Error::Conflict("this account was just created; try again".into())
            } else {
                err.into()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_names() {
        assert_eq!(slugify("Acme, Inc."), "acme-inc");
        assert_eq!(slugify("  Ünïcode Team  "), "n-code-team");
        assert_eq!(slugify("!!!"), "org");
        assert!(check_slug("acme-inc").is_ok());
        for bad in ["A", "-acme", "acme-", "ac me", "acme_inc", &"a".repeat(65)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
