//! The audit trail.

use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _,
};
use time::OffsetDateTime;

use crate::entity::audit_event;

pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    row: audit_event::Model,
) -> Result<(), DbErr> {
    audit_event::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Deletes the events that occurred before `before`; returns how many.
pub(crate) async fn delete_before(
    db: &impl ConnectionTrait,
    before: OffsetDateTime,
) -> Result<u64, DbErr> {
    let result = audit_event::Entity::delete_many()
        .filter(audit_event::Column::OccurredAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
