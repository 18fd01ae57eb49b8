//! What the admin routes read: users by search and filters, the audit trail, both by
//! keyset pagination (newest first, by UUIDv7 id: an index walk, never an `OFFSET`).

use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
    sea_query::{Condition, Expr, ExprTrait as _, Func},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::entity::{audit_event, user};

/// What a user listing asks for.
#[derive(Debug, Default)]
pub(crate) struct UserQuery {
    /// A substring of the email or the name (any case).
    pub(crate) text: Option<String>,
    pub(crate) verified: Option<bool>,
    pub(crate) disabled: Option<bool>,
    /// Only users older than this one (the previous page's last).
    pub(crate) before: Option<Uuid>,
    pub(crate) limit: u64,
}

/// `%text%` for `LIKE`, with `LIKE`'s own characters escaped (by `\`).
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars().flat_map(char::to_lowercase) {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Users matching `query`, newest first, at most `limit + 1` (the extra one says whether
/// there is a next page).
pub(crate) async fn users(
    db: &impl ConnectionTrait,
    query: &UserQuery,
) -> Result<Vec<user::Model>, DbErr> {
    let mut select = user::Entity::find();
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = like_pattern(text);
        let escape = |column: user::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(escape(user::Column::Email))
                .add(escape(user::Column::Name)),
        );
    }
    match query.verified {
        Some(true) => select = select.filter(user::Column::EmailVerifiedAt.is_not_null()),
        Some(false) => select = select.filter(user::Column::EmailVerifiedAt.is_null()),
        None => {}
    }
    match query.disabled {
        Some(true) => select = select.filter(user::Column::DisabledAt.is_not_null()),
        Some(false) => select = select.filter(user::Column::DisabledAt.is_null()),
        None => {}
    }
    if let Some(before) = query.before {
        select = select.filter(user::Column::Id.lt(before));
    }
    select
        .order_by_desc(user::Column::Id)
        .limit(query.limit + 1)
        .all(db)
        .await
}

/// What an audit query asks for.
#[derive(Debug, Default)]
pub(crate) struct AuditQuery {
    pub(crate) user_id: Option<Uuid>,
    pub(crate) kind: Option<String>,
    pub(crate) since: Option<OffsetDateTime>,
    pub(crate) until: Option<OffsetDateTime>,
    pub(crate) before: Option<Uuid>,
    pub(crate) limit: u64,
}

/// Audit events matching `query`, newest first, at most `limit + 1`.
pub(crate) async fn audit(
    db: &impl ConnectionTrait,
    query: &AuditQuery,
) -> Result<Vec<audit_event::Model>, DbErr> {
    let mut select = audit_event::Entity::find();
    if let Some(user_id) = query.user_id {
        select = select.filter(audit_event::Column::UserId.eq(user_id));
    }
    if let Some(kind) = &query.kind {
        select = select.filter(audit_event::Column::Kind.eq(kind.as_str()));
    }
    if let Some(since) = query.since {
        select = select.filter(audit_event::Column::OccurredAt.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(audit_event::Column::OccurredAt.lt(until));
    }
    if let Some(before) = query.before {
        select = select.filter(audit_event::Column::Id.lt(before));
    }
    select
        .order_by_desc(audit_event::Column::Id)
        .limit(query.limit + 1)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_their_own_characters() {
        assert_eq!(like_pattern("Ada"), "%ada%");
        assert_eq!(like_pattern("100%_x\\"), "%100\\%\\_x\\\\%");
    }
}
