//! Waitlists: people (or their organizations) wait for features the host declared, and
//! are admitted in order.
//!
//! - An entry belongs to the caller's **account context**: the session's active
//!   organization when it has one, else the user. Joining and leaving are idempotent; of
//!   fifty racing joins, the unique index keeps one entry.
//! - `position` is 1-based among those waiting for the feature (users and organizations in
//!   one queue), counted by the database; leaving and joining again goes to the back.
//! - Admission (admin router, or [`Waitlists::admit`] from Rust) emails the person who
//!   joined, and every access token minted afterwards carries the feature in its
//!   `features` claim (for the user, or for sessions acting in the organization).

use uuid::Uuid;

use crate::{
    Error,
    audit::{AuditEvent, AuditKind},
    client::ClientInfo,
    context::Context,
    crypto::jwt::Claims,
    delivery::Message,
    entity::waitlist_entry,
    store::{
        self,
        waitlists::{ADMITTED, WAITING},
    },
};

/// The most entries one admission or listing takes.
pub(crate) const MAX_BATCH: u64 = 1000;

/// An entry as the routes show it: `{ feature, joined_at, status, position }`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The row.
    pub entry: waitlist_entry::Model,
    /// 1-based place among those waiting for the feature; `None` once admitted.
    pub position: Option<u64>,
}

/// The feature, provided the host declared it (404 otherwise).
fn declared<'f>(ctx: &Context, feature: &'f str) -> Result<&'f str, Error> {
    if ctx
        .config
        .waitlists
        .iter()
        .any(|declared| declared == feature)
    {
        Ok(feature)
    } else {
        Err(Error::NotFound)
    }
}

/// The caller's account context: the active organization, or the user.
fn subject(claims: &Claims) -> (Uuid, &'static str) {
    match claims.org_id {
        Some(org_id) => (org_id, "organization"),
        None => (claims.sub, "user"),
    }
}

async fn with_position(ctx: &Context, entry: waitlist_entry::Model) -> Result<Entry, Error> {
    let position = if entry.status == WAITING {
        Some(store::waitlists::ahead_of(&ctx.db, &entry.feature, entry.id).await? + 1)
    } else {
        None
    };
    Ok(Entry { entry, position })
}

/// `GET /me/waitlists`: the context's entries, oldest first.
pub(crate) async fn list(ctx: &Context, claims: &Claims) -> Result<Vec<Entry>, Error> {
    let (subject_id, _) = subject(claims);
    let mut entries = Vec::new();
    for entry in store::waitlists::of_subject(&ctx.db, subject_id).await? {
        entries.push(with_position(ctx, entry).await?);
    }
    Ok(entries)
}

/// `GET /me/waitlists/{feature}`: the context's entry, if it joined.
pub(crate) async fn check(
    ctx: &Context,
    claims: &Claims,
    feature: &str,
) -> Result<Option<Entry>, Error> {
    let feature = declared(ctx, feature)?;
    let (subject_id, _) = subject(claims);
    match store::waitlists::find(&ctx.db, feature, subject_id).await? {
        Some(entry) => Ok(Some(with_position(ctx, entry).await?)),
        None => Ok(None),
    }
}

/// `PUT /me/waitlists/{feature}`: joins (idempotent: an existing entry is answered as it
/// is).
pub(crate) async fn join(
    ctx: &Context,
    claims: &Claims,
    feature: &str,
    client: &ClientInfo,
) -> Result<Entry, Error> {
    let feature = declared(ctx, feature)?;
    let (subject_id, kind) = subject(claims);
    let row = waitlist_entry::Model {
        id: Uuid::now_v7(),
        feature: feature.to_owned(),
        subject_id,
        subject_kind: kind.to_owned(),
        joined_by: claims.sub,
        joined_at: ctx.now(),
        status: WAITING.to_owned(),
        admitted_at: None,
    };
    if store::waitlists::insert(&ctx.db, row).await? {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::WaitlistJoined)
                    .user(claims.sub)
                    .client(client)
                    .detail("feature", feature)
                    .detail("subject", subject_id.to_string()),
            )
            .await;
    }
    let entry = store::waitlists::find(&ctx.db, feature, subject_id)
        .await?
        .ok_or(Error::NotFound)?;
    with_position(ctx, entry).await
}

/// `DELETE /me/waitlists/{feature}`: leaves (idempotent).
pub(crate) async fn leave(
    ctx: &Context,
    claims: &Claims,
    feature: &str,
    client: &ClientInfo,
) -> Result<(), Error> {
    let feature = declared(ctx, feature)?;
    let (subject_id, _) = subject(claims);
    if store::waitlists::delete(&ctx.db, feature, subject_id).await? {
        ctx.auditor
            .record(
                AuditEvent::new(AuditKind::WaitlistLeft)
                    .user(claims.sub)
                    .client(client)
                    .detail("feature", feature),
            )
            .await;
    }
    Ok(())
}

/// The entries of a feature, oldest first (`status`: `waiting`, `admitted`, or all).
pub(crate) async fn entries(
    ctx: &Context,
    feature: &str,
    status: Option<&str>,
) -> Result<Vec<Entry>, Error> {
    let feature = declared(ctx, feature)?;
    let status = match status {
        None | Some("") => None,
        Some(WAITING) => Some(WAITING),
        Some(ADMITTED) => Some(ADMITTED),
        Some(_) => return Err(Error::invalid_request("status: waiting or admitted")),
    };
    let rows = store::waitlists::of_feature(&ctx.db, feature, status, MAX_BATCH).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for (index, entry) in rows.into_iter().enumerate() {
        // Listed oldest first: a waiting entry's place is its rank among the waiting.
        let position = if status == Some(WAITING) {
            Some(u64::try_from(index).unwrap_or(u64::MAX) + 1)
        } else {
            None
        };
        if position.is_some() {
            entries.push(Entry { entry, position });
        } else {
            entries.push(with_position(ctx, entry).await?);
        }
    }
    Ok(entries)
}

/// Whom to admit: these entries' subjects (users or organizations), or the oldest
/// `count` waiting.
#[derive(Debug, Clone)]
pub enum Admit {
    /// The entries of these users or organizations.
    Subjects(Vec<Uuid>),
    /// The oldest waiting entries.
    Oldest(u64),
}

/// Admits entries of a feature: each person who joined is emailed, and tokens minted
/// from now on carry the feature. Answers the entries admitted now (already admitted
/// ones are left as they are).
pub(crate) async fn admit(
    ctx: &Context,
    feature: &str,
    whom: Admit,
    actor: Option<Uuid>,
) -> Result<Vec<waitlist_entry::Model>, Error> {
    let feature = declared(ctx, feature)?;
    let ids: Vec<Uuid> = match whom {
        Admit::Subjects(subjects) => {
            let mut ids = Vec::new();
            for subject in subjects
                .iter()
                .take(usize::try_from(MAX_BATCH).unwrap_or(1000))
            {
                if let Some(entry) = store::waitlists::find(&ctx.db, feature, *subject).await? {
                    ids.push(entry.id);
                }
            }
            ids
        }
        Admit::Oldest(count) => {
            if count == 0 || count > MAX_BATCH {
                return Err(Error::invalid_request("count: 1 to 1000"));
            }
            store::waitlists::of_feature(&ctx.db, feature, Some(WAITING), count)
                .await?
                .into_iter()
                .map(|entry| entry.id)
                .collect()
        }
    };
    let admitted = store::waitlists::admit(&ctx.db, feature, &ids, ctx.now()).await?;
    for entry in &admitted {
        let mut event = AuditEvent::new(AuditKind::WaitlistAdmitted)
            .user(entry.joined_by)
            .detail("feature", feature)
            .detail("subject", entry.subject_id.to_string());
        if let Some(actor) = actor {
            event = event.actor(actor);
        }
        ctx.auditor.record(event).await;
        if let Some(person) = store::users::find(&ctx.db, entry.joined_by).await? {
            ctx.outbox
                .notify(&person, &Message::WaitlistAdmitted { feature });
        }
    }
    Ok(admitted)
}

/// Waitlists from Rust, as [`Portcullis::waitlists`](crate::Portcullis::waitlists) hands
/// them out.
///
/// ```rust,no_run
/// # async fn run(auth: portcullis::Portcullis) -> portcullis::Result<()> {
/// use portcullis::waitlists::Admit;
///
/// // Let the ten who waited longest into the beta.
/// let admitted = auth.waitlists().admit("beta", Admit::Oldest(10)).await?;
/// println!("{} admitted", admitted.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Waitlists<'a> {
    ctx: &'a Context,
}

impl<'a> Waitlists<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Self { ctx }
    }

    /// Admits entries of `feature` (see [`Admit`]); each person who joined is emailed.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a feature the host did not declare, a database error.
    pub async fn admit(
        &self,
        feature: &str,
        whom: Admit,
    ) -> Result<Vec<waitlist_entry::Model>, Error> {
        admit(self.ctx, feature, whom, None).await
    }

    /// The entries of `feature`, oldest first, with their places (`status`: `waiting`,
    /// `admitted`, or `None` for all; at most 1000).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a feature the host did not declare, a database error.
    pub async fn entries(&self, feature: &str, status: Option<&str>) -> Result<Vec<Entry>, Error> {
        entries(self.ctx, feature, status).await
    }
}
