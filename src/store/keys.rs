//! Signing keys.

use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, IntoActiveModel as _, QueryFilter as _, QueryOrder as _, sea_query::Expr,
};
use time::OffsetDateTime;

use crate::entity::signing_key;

/// Keys still published: the active ones and the retired ones whose tokens may live on,
/// oldest first.
pub(crate) async fn published(
    db: &impl ConnectionTrait,
    now: OffsetDateTime,
) -> Result<Vec<signing_key::Model>, DbErr> {
    signing_key::Entity::find()
        .filter(
            Condition::any()
                .add(signing_key::Column::PublishUntil.is_null())
                .add(signing_key::Column::PublishUntil.gt(now)),
        )
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Id)
        .all(db)
        .await
}

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    row: signing_key::Model,
) -> Result<(), DbErr> {
    signing_key::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Adds `new` as the only active key and retires every other active key, publishing
/// them until `publish_until`, in one transaction.
///
/// With `due_before`, only when an active key was created at or before it: of several
/// instances finding the key due at once, the first to retire it rotates, and the others
/// (their `UPDATE` waiting on its lock, then matching nothing) do not. Answers whether it
/// rotated.
pub(crate) async fn rotate(
    db: &DatabaseConnection,
    new: signing_key::Model,
    publish_until: OffsetDateTime,
    due_before: Option<OffsetDateTime>,
) -> Result<bool, DbErr> {
    let retire = |condition: Condition| {
        signing_key::Entity::update_many()
            .col_expr(
                signing_key::Column::RetiredAt,
                Expr::value(Some(new.created_at)),
            )
            .col_expr(
                signing_key::Column::PublishUntil,
                Expr::value(Some(publish_until)),
            )
            .filter(condition.add(signing_key::Column::RetiredAt.is_null()))
    };
    let txn = super::begin(db).await?;
    if let Some(due_before) = due_before {
        let due = retire(Condition::all().add(signing_key::Column::CreatedAt.lte(due_before)))
            .exec(&txn)
            .await?;
        if due.rows_affected == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
    }
    // Every other active key too (instances that started together may each have made one).
    retire(Condition::all()).exec(&txn).await?;
    insert(&txn, new).await?;
    txn.commit().await?;
    Ok(true)
}
