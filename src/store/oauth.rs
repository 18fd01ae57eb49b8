//! Linked provider accounts and authorizations in flight.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{oauth_account, oauth_state};

/// Stores an authorization that just began.
pub(crate) async fn insert_state(
    db: &impl ConnectionTrait,
    row: oauth_state::Model,
) -> Result<(), DbErr> {
    oauth_state::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The authorization whose `state` hashes to `state_hash`, used or not.
pub(crate) async fn find_state(
    db: &impl ConnectionTrait,
    state_hash: &str,
) -> Result<Option<oauth_state::Model>, DbErr> {
    oauth_state::Entity::find()
        .filter(oauth_state::Column::StateHash.eq(state_hash))
        .unique(db)
        .await
}

/// Uses the authorization up (deletes it) if, and only if, nobody has yet: of any number
/// of concurrent callbacks exactly one sees `true`.
pub(crate) async fn consume_state(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let result = oauth_state::Entity::delete_many()
        .filter(oauth_state::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes authorizations past their lifetime.
pub(crate) async fn sweep_states(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = oauth_state::Entity::delete_many()
        .filter(oauth_state::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The account linked for the external identity (issuer, subject).
pub(crate) async fn find_identity(
    db: &impl ConnectionTrait,
    issuer: &str,
    subject: &str,
) -> Result<Option<oauth_account::Model>, DbErr> {
    oauth_account::Entity::find()
        .filter(oauth_account::Column::Issuer.eq(issuer))
        .filter(oauth_account::Column::Subject.eq(subject))
        .unique(db)
        .await
}

/// Links an identity. One already linked (to anyone) is a unique violation.
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    row: oauth_account::Model,
) -> Result<(), DbErr> {
    oauth_account::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records a sign-in through the account, with what the provider said this time.
pub(crate) async fn touch_account(
    db: &impl ConnectionTrait,
    id: Uuid,
    email: Option<&str>,
    email_verified: bool,
    now: OffsetDateTime,
) -> Result<(), DbErr> {
    oauth_account::Entity::update_many()
        .col_expr(oauth_account::Column::LastUsedAt, Expr::value(Some(now)))
        .col_expr(
            oauth_account::Column::Email,
            Expr::value(email.map(str::to_owned)),
        )
        .col_expr(
            oauth_account::Column::EmailVerified,
            Expr::value(email_verified),
        )
        .filter(oauth_account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's linked accounts, oldest first.
pub(crate) async fn list_accounts(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<oauth_account::Model>, DbErr> {
    oauth_account::Entity::find()
        .filter(oauth_account::Column::UserId.eq(user_id))
        .order_by_asc(oauth_account::Column::CreatedAt)
        .order_by_asc(oauth_account::Column::Id)
        .all(db)
        .await
}

/// How many accounts the user has linked.
pub(crate) async fn count_accounts(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    oauth_account::Entity::find()
        .filter(oauth_account::Column::UserId.eq(user_id))
        .count(db)
        .await
}

/// The user's linked account `id` (someone else's is `None`).
pub(crate) async fn find_account_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<oauth_account::Model>, DbErr> {
    oauth_account::Entity::find_by_id(id)
        .filter(oauth_account::Column::UserId.eq(user_id))
        .unique(db)
        .await
}

/// Unlinks the user's account; `false` when they have no such account.
pub(crate) async fn delete_account(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let result = oauth_account::Entity::delete_many()
        .filter(oauth_account::Column::Id.eq(id))
        .filter(oauth_account::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Unlinks every account of the user (an account taken back from whoever registered it).
pub(crate) async fn delete_accounts_of(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<u64, DbErr> {
    let result = oauth_account::Entity::delete_many()
        .filter(oauth_account::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
