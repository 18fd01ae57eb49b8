//! Waitlist entries. Joining is one insert under a unique index (of fifty racing joins,
//! one writes and the others read it back); a position is one count, by the database.

use super::Unique as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    IntoActiveModel as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    sea_query::Expr,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::waitlist_entry;

/// The status of an entry still waiting.
pub(crate) const WAITING: &str = "waiting";
/// The status of an admitted entry.
pub(crate) const ADMITTED: &str = "admitted";

/// The subject's entry for `feature`, if any.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    feature: &str,
    subject_id: Uuid,
) -> Result<Option<waitlist_entry::Model>, DbErr> {
    waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::Feature.eq(feature))
        .filter(waitlist_entry::Column::SubjectId.eq(subject_id))
        .unique(db)
        .await
}

/// Every entry of a subject, oldest first.
pub(crate) async fn of_subject(
    db: &impl ConnectionTrait,
    subject_id: Uuid,
) -> Result<Vec<waitlist_entry::Model>, DbErr> {
    waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::SubjectId.eq(subject_id))
        .order_by_asc(waitlist_entry::Column::Id)
        .all(db)
        .await
}

/// Inserts an entry; `false` when the subject already has one for the feature.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    row: waitlist_entry::Model,
) -> Result<bool, DbErr> {
    match waitlist_entry::Entity::insert(row.into_active_model().reset_all())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if super::is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Removes the subject's entry; `false` when there was none.
pub(crate) async fn delete(
    db: &impl ConnectionTrait,
    feature: &str,
    subject_id: Uuid,
) -> Result<bool, DbErr> {
    let result = waitlist_entry::Entity::delete_many()
        .filter(waitlist_entry::Column::Feature.eq(feature))
        .filter(waitlist_entry::Column::SubjectId.eq(subject_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// How many wait for `feature` ahead of the entry `id` (joined before it).
pub(crate) async fn ahead_of(
    db: &impl ConnectionTrait,
    feature: &str,
    id: Uuid,
) -> Result<u64, DbErr> {
    waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::Feature.eq(feature))
        .filter(waitlist_entry::Column::Status.eq(WAITING))
        .filter(waitlist_entry::Column::Id.lt(id))
        .count(db)
        .await
}

/// The entries of `feature`, oldest first, of one status or all.
pub(crate) async fn of_feature(
    db: &impl ConnectionTrait,
    feature: &str,
    status: Option<&str>,
    limit: u64,
) -> Result<Vec<waitlist_entry::Model>, DbErr> {
    let mut select =
        waitlist_entry::Entity::find().filter(waitlist_entry::Column::Feature.eq(feature));
    if let Some(status) = status {
        select = select.filter(waitlist_entry::Column::Status.eq(status));
    }
    select
        .order_by_asc(waitlist_entry::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Admits the waiting entries of `feature` among `ids`; answers those admitted now.
pub(crate) async fn admit(
    db: &impl ConnectionTrait,
    feature: &str,
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<Vec<waitlist_entry::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let waiting = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::Feature.eq(feature))
        .filter(waitlist_entry::Column::Status.eq(WAITING))
        .filter(waitlist_entry::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let mut admitted = Vec::with_capacity(waiting.len());
    for entry in waiting {
        // One conditional update each: of two racing admissions, one tells the person.
        let result = waitlist_entry::Entity::update_many()
            .col_expr(waitlist_entry::Column::Status, Expr::value(ADMITTED))
            .col_expr(waitlist_entry::Column::AdmittedAt, Expr::value(Some(now)))
            .filter(waitlist_entry::Column::Id.eq(entry.id))
            .filter(waitlist_entry::Column::Status.eq(WAITING))
            .exec(db)
            .await?;
        if result.rows_affected == 1 {
            admitted.push(waitlist_entry::Model {
                status: ADMITTED.into(),
                admitted_at: Some(now),
                ..entry
            });
        }
    }
    Ok(admitted)
}

/// The features of `declared` admitted to any of `subjects` (a user and their active
/// organization). No query when nothing is declared.
pub(crate) async fn admitted_features(
    db: &impl ConnectionTrait,
    subjects: &[Uuid],
    declared: &[String],
) -> Result<Vec<String>, DbErr> {
    if declared.is_empty() {
        return Ok(Vec::new());
    }
    let mut features: Vec<String> = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::SubjectId.is_in(subjects.iter().copied()))
        .filter(waitlist_entry::Column::Feature.is_in(declared.iter().cloned()))
        .filter(waitlist_entry::Column::Status.eq(ADMITTED))
        .all(db)
        .await?
        .into_iter()
        .map(|entry| entry.feature)
        .collect();
    features.sort();
    features.dedup();
    Ok(features)
}
