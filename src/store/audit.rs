//! The audit trail.

use sea_orm::{
    ActiveModelTrait as _, ConnectionTrait, DbErr, EntityTrait as _, IntoActiveModel as _,
};

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
