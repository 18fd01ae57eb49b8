//! The one check every new password goes through (sign-up, reset, change, and the Rust
//! API): the policy with the account's context words, then the breached-password corpus.

use crate::{Error, context::Context, flows::email_address::local_part};

/// Checks a new password against the policy (with the account's context words) and the
/// breached-password corpus, if one is configured.
pub(crate) async fn check_new_password(
    ctx: &Context,
    password: &str,
    email: Option<&str>,
    name: Option<&str>,
) -> Result<(), Error> {
    let mut context = vec![ctx.config.app_name.as_str()];
    context.extend(email.map(local_part));
    context.extend(name);
    ctx.config.passwords.policy.check(password, &context)?;
    if let Some(corpus) = &ctx.breached {
        match corpus.is_breached(password).await {
            Ok(true) => {
                return Err(Error::WeakPassword(
                    "this password appears in a data breach; choose another".into(),
                ));
            }
            Ok(false) => {}
            Err(err) if ctx.config.passwords.breached_fail_closed => {
                tracing::error!(error = %err, "breached-password check failed; refusing");
                return Err(Error::Unavailable(err));
            }
            Err(err) => tracing::warn!(error = %err, "breached-password check failed; accepting"),
        }
    }
    Ok(())
}
