//! The account as its owner sees it (`GET /me`, `PATCH /me`), and the user-editable
//! profile fields, validated the same way on sign-up, `PATCH /me` and the Rust API.

use uuid::Uuid;

use crate::{
    Error,
    context::Context,
    entity::{membership, organization, user},
    origin::Origin,
    store,
};

/// A user with what their answers show: whether they have a password.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) user: user::Model,
    pub(crate) has_password: bool,
}

/// The account `user_id` (401 when it is gone).
pub(crate) async fn account(ctx: &Context, user_id: Uuid) -> Result<Account, Error> {
    let (user, has_password) = store::users::find_with_password(&ctx.db, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    Ok(Account { user, has_password })
}

/// The account and its memberships (`GET /me`), in one query.
pub(crate) async fn overview(
    ctx: &Context,
    user_id: Uuid,
) -> Result<(Account, Vec<(membership::Model, organization::Model)>), Error> {
    let (user, has_password, memberships) = store::users::overview(&ctx.db, user_id)
        .await?
        .ok_or(Error::Unauthorized)?;
    Ok((Account { user, has_password }, memberships))
}

/// [`Account`] for a user row already read.
pub(crate) async fn account_of(ctx: &Context, user: user::Model) -> Result<Account, Error> {
    let has_password = store::users::password_hash(&ctx.db, user.id)
        .await?
        .is_some();
    Ok(Account { user, has_password })
}

/// A change `PATCH /me` asks for: each field `None` to leave it, `Some(None)` to clear it.
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub(crate) name: Option<Option<String>>,
    pub(crate) image_url: Option<Option<String>>,
    pub(crate) metadata: Option<Option<serde_json::Value>>,
}

/// Applies a profile change (every field checked first) and answers the account.
#[tracing::instrument(skip_all, fields(user.id = %user_id))]
pub(crate) async fn update(ctx: &Context, user_id: Uuid, change: Change) -> Result<Account, Error> {
    let change = store::users::ProfileChange {
        name: change.name.map(name).transpose()?,
        image_url: change.image_url.map(image_url).transpose()?,
        metadata: change.metadata.map(metadata).transpose()?,
        now: ctx.now(),
    };
    store::users::update_profile(&ctx.db, user_id, change).await?;
    account(ctx, user_id).await
}

/// The largest `metadata` object accepted, serialised, in bytes.
pub(crate) const MAX_METADATA_LEN: usize = 16 * 1024;

/// A display name: trimmed, 1 to 200 characters, no control characters. Empty means none.
pub(crate) fn name(input: Option<String>) -> Result<Option<String>, Error> {
    let Some(name) = input else { return Ok(None) };
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid_request(
            "name: at most 200 characters, no control characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// An avatar URL: an absolute `http(s)` URL with a host, at most 2048 bytes.
pub(crate) fn image_url(input: Option<String>) -> Result<Option<String>, Error> {
    let Some(url) = input else { return Ok(None) };
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    if url.len() > 2048 || Origin::parse(url).is_none() {
        return Err(Error::invalid_request(
            "image_url: must be an absolute http(s) URL",
        ));
    }
    Ok(Some(url.to_owned()))
}

/// Host metadata: a JSON object of at most 16 KiB, stored as text.
pub(crate) fn metadata(input: Option<serde_json::Value>) -> Result<String, Error> {
    let value = input.unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
    if !value.is_object() {
        return Err(Error::invalid_request("metadata: must be a JSON object"));
    }
    let text = value.to_string();
    if text.len() > MAX_METADATA_LEN {
        return Err(Error::invalid_request("metadata: at most 16 KiB"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            name(Some("  Jane  ".into())).unwrap().as_deref(),
            Some("Jane")
        );
        assert_eq!(name(Some("   ".into())).unwrap(), None);
        assert!(name(Some("a".repeat(201))).is_err());
        assert!(name(Some("a\nb".into())).is_err());
    }

    #[test]
    fn image_urls_must_be_web_urls() {
        assert!(
            image_url(Some("https://cdn.example.com/a.png".into()))
                .unwrap()
                .is_some()
        );
        for bad in [
            "javascript:alert(1)",
            "/relative.png",
            "data:image/png;base64,AAAA",
            "https://",
        ] {
            assert!(image_url(Some(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert_eq!(metadata(None).unwrap(), "{}");
        assert!(metadata(Some(serde_json::json!([1, 2]))).is_err());
        assert!(
            metadata(Some(
                serde_json::json!({ "big": "x".repeat(MAX_METADATA_LEN) })
            ))
            .is_err()
        );
        assert_eq!(
            metadata(Some(serde_json::json!({ "plan": "pro" }))).unwrap(),
            r#"{"plan":"pro"}"#
        );
    }
}
