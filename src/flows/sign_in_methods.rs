//! Which ways into an account this deployment offers, and the last-way rule: nobody
//! removes the last way they have of signing in (a passkey, a linked provider account).
//! Passkeys and social sign-in both ask here, inside the transaction that holds the
//! user's row lock.

use crate::{Error, config::SignInMethod, context::Context, entity::user, store};

/// Whether `method` is on (the host did not turn it off) and can work here: SMS needs a
/// sender, passkeys a domain, social sign-in a provider.
pub(crate) fn available(ctx: &Context, method: SignInMethod) -> bool {
    if !ctx.config.method_on(method) {
        return false;
    }
    match method {
        SignInMethod::Password | SignInMethod::MagicLink | SignInMethod::EmailOtp => true,
        SignInMethod::SmsOtp => ctx.outbox.can_text(),
        #[cfg(feature = "passkeys")]
        SignInMethod::Passkey => ctx.webauthn.is_some(),
        #[cfg(feature = "oauth")]
        SignInMethod::OAuth => ctx.oauth.is_some(),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Whether the account can still sign in with `passkeys_left` passkeys and
/// `accounts_left` linked provider accounts, counting only the methods this deployment
/// offers: a password; its email address, if links, codes or a password reset reach it;
/// its phone, if texts do; a passkey; a provider. Read inside the transaction that holds
/// the user's row lock.
#[cfg_attr(not(any(feature = "passkeys", feature = "oauth")), allow(dead_code))]
pub(crate) async fn can_still_sign_in(
    ctx: &Context,
    db: &impl sea_orm::ConnectionTrait,
    user: &user::Model,
    passkeys_left: u64,
    accounts_left: u64,
) -> Result<bool, Error> {
    use SignInMethod as M;
    let on = |method| available(ctx, method);
    Ok((passkeys_left > 0 && on(M::Passkey))
        || (accounts_left > 0 && on(M::OAuth))
        || (user.email.is_some() && (on(M::MagicLink) || on(M::EmailOtp) || on(M::Password)))
        || (user.phone.is_some() && on(M::SmsOtp))
        || (on(M::Password) && store::users::password_hash(db, user.id).await?.is_some()))
}

/// The methods this deployment offers for signing in (`/identify` for an unknown account).
pub(crate) fn offered(ctx: &Context) -> Vec<&'static str> {
    [
        SignInMethod::Password,
        SignInMethod::MagicLink,
        SignInMethod::EmailOtp,
        SignInMethod::SmsOtp,
        SignInMethod::Passkey,
    ]
    .into_iter()
    .filter(|method| available(ctx, *method))
    .map(SignInMethod::name)
    .collect()
}

/// The methods the account with this (normalised) address can use, or `None` when there
/// is no such account. Only for hosts that enabled account discovery.
pub(crate) async fn of_account(
    ctx: &Context,
    email: &str,
) -> Result<Option<Vec<&'static str>>, Error> {
    let Some(user) = store::users::find_by_email(&ctx.db, email).await? else {
        return Ok(None);
    };
    let on = |method| available(ctx, method);
    let mut methods = Vec::new();
    if on(SignInMethod::Password)
        && store::users::password_hash(&ctx.db, user.id)
            .await?
            .is_some()
    {
        methods.push(SignInMethod::Password.name());
    }
    if user.email.is_some() {
        for method in [SignInMethod::MagicLink, SignInMethod::EmailOtp] {
            if on(method) {
                methods.push(method.name());
            }
        }
    }
    if user.phone.is_some() && on(SignInMethod::SmsOtp) {
        methods.push(SignInMethod::SmsOtp.name());
    }
    if on(SignInMethod::Passkey) && store::passkeys::count(&ctx.db, user.id).await? > 0 {
        methods.push(SignInMethod::Passkey.name());
    }
    Ok(Some(methods))
}
