//! `portcullis_waitlist_entries`: who waits for which feature.

use sea_orm::entity::prelude::*;

/// One entry: a user, or an organization (when the person joined while acting in it),
/// waiting for (or admitted to) a feature. One per feature and subject.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portcullis_waitlist_entries")]
pub struct Model {
    /// UUIDv7: the queue's order (leaving and joining again goes to the back).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The feature, as the host declared it.
    pub feature: String,
    /// The user or organization the entry belongs to.
    pub subject_id: Uuid,
    /// `user` or `organization`.
    pub subject_kind: String,
    /// The person who joined (and is emailed on admission).
    pub joined_by: Uuid,
    /// When they joined.
    pub joined_at: TimeDateTimeWithTimeZone,
    /// `waiting` or `admitted`.
    pub status: String,
    /// When it was admitted.
    pub admitted_at: Option<TimeDateTimeWithTimeZone>,
}

impl ActiveModelBehavior for ActiveModel {}
