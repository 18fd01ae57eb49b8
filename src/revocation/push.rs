//! Pushing revocations between instances: each instance announces its own revocations on a
//! shared channel and, on hearing another's, polls at once instead of at its next tick.
//!
//! Two channels carry the announcement: Redis pub/sub when the host configured Redis
//! ([`redis_revocations`](crate::PortcullisBuilder::redis_revocations)), else PostgreSQL's
//! `LISTEN`/`NOTIFY` when the database is PostgreSQL. The message says only "poll now" (and
//! which instance sent it); what was revoked is read from the database as always, so a
//! message lost while a listener reconnected costs at most one poll interval.

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use super::RevocationView;
use crate::tasks::Stop;

/// The channel revocations are announced on (PostgreSQL `NOTIFY`, Redis `PUBLISH`).
const CHANNEL: &str = "portcullis_revocations";

/// How long connecting or announcing may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait before listening again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The channel instances announce revocations on.
#[allow(
    clippy::large_enum_variant,
    reason = "one per instance, moved once into its task"
)]
pub(crate) enum Bus {
    /// `LISTEN`/`NOTIFY` on the database's own pool.
    #[cfg(feature = "postgres")]
    Postgres(sea_orm::sqlx::PgPool),
    /// Redis pub/sub, and the connection announcements go out on (opened when first
    /// needed, opened afresh after a failure).
    #[cfg(feature = "redis")]
    Redis {
        client: redis::Client,
        publisher: Option<redis::aio::MultiplexedConnection>,
    },
}

/// Something heard on the bus, or the listener's end.
enum Heard {
    /// Another instance (or this one) announced a revocation, with the sender's id.
    Announcement(String),
    /// The listener lost its connection.
    Lost(String),
}

/// A subscription to the bus.
enum Listener {
    #[cfg(feature = "postgres")]
    Postgres(sea_orm::sqlx::postgres::PgListener),
    #[cfg(feature = "redis")]
    Redis(redis::aio::PubSubStream),
}

/// Runs the push until the stop signal: listens (reconnecting after a failure, and polling
/// once listening again, for what was announced meanwhile), announces this instance's own
/// revocations, and asks for a poll on hearing another's.
pub(crate) fn spawn(mut bus: Bus, view: Arc<RevocationView>, mut stop: Stop) -> JoinHandle<()> {
    tokio::spawn(async move {
        let me = uuid::Uuid::new_v4().to_string();
        let mut listener: Option<Listener> = None;
        loop {
            if listener.is_none() {
                match tokio::time::timeout(TIMEOUT, bus.listen()).await {
                    Ok(Ok(fresh)) => {
                        listener = Some(fresh);
                        view.poll_soon();
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "listening for revocations failed")
                    }
                    Err(_) => tracing::warn!("listening for revocations timed out"),
                }
            }
            let heard = async {
                match listener.as_mut() {
                    Some(listening) => Some(listening.next().await),
                    None => {
                        tokio::time::sleep(RETRY).await;
                        None
                    }
                }
            };
            enum Event {
                Stop,
                RevokedHere,
                Heard(Option<Heard>),
            }
            let event = tokio::select! {
                () = stop.wait() => Event::Stop,
                () = view.revoked_here() => Event::RevokedHere,
                heard = heard => Event::Heard(heard),
            };
            match event {
                Event::Stop => break,
                Event::RevokedHere => {
                    let sent = tokio::time::timeout(TIMEOUT, bus.announce(&me)).await;
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => tracing::warn!(
                            error = %err, "announcing a revocation failed; the poll will carry it"
                        ),
                        Err(_) => tracing::warn!(
                            "announcing a revocation timed out; the poll will carry it"
                        ),
                    }
                }
                Event::Heard(Some(Heard::Announcement(from))) if from != me => view.poll_soon(),
                Event::Heard(Some(Heard::Announcement(_)) | None) => {}
                Event::Heard(Some(Heard::Lost(err))) => {
                    tracing::warn!(error = %err, "the revocation listener lost its connection; reconnecting");
                    listener = None;
                    // A bus that takes the subscription and drops it again must not spin.
                    tokio::select! {
                        () = stop.wait() => break,
                        () = tokio::time::sleep(RETRY) => {}
                    }
                }
            }
        }
    })
}

impl Bus {
    /// Redis pub/sub through `client`.
    #[cfg(feature = "redis")]
    pub(crate) fn redis(client: redis::Client) -> Self {
        Self::Redis {
            client,
            publisher: None,
        }
    }

    /// Subscribes to the channel.
    async fn listen(&self) -> Result<Listener, String> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => {
                let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(pool)
                    .await
                    .map_err(|err| err.to_string())?;
                listener
                    .listen(CHANNEL)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(Listener::Postgres(listener))
            }
            #[cfg(feature = "redis")]
            Self::Redis { client, .. } => {
                let mut pubsub = client
                    .get_async_pubsub()
                    .await
                    .map_err(|err| err.to_string())?;
                pubsub
                    .subscribe(CHANNEL)
                    .await
                    .map_err(|err| err.to_string())?;
                Ok(Listener::Redis(pubsub.into_on_message()))
            }
        }
    }

    /// Tells every instance listening that `me` revoked something.
    async fn announce(&mut self, me: &str) -> Result<(), String> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(pool) => sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(me)
                .execute(&*pool)
                .await
                .map(drop)
                .map_err(|err| err.to_string()),
            #[cfg(feature = "redis")]
            Self::Redis { client, publisher } => {
                let open = match publisher {
                    Some(open) => open,
                    None => publisher.insert(
                        client
                            .get_multiplexed_async_connection()
                            .await
                            .map_err(|err| err.to_string())?,
                    ),
                };
                let sent: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(CHANNEL)
                    .arg(me)
                    .query_async(open)
                    .await;
                sent.map(drop).map_err(|err| {
                    // Connect afresh next time.
                    *publisher = None;
                    err.to_string()
                })
            }
        }
    }
}

impl Listener {
    /// The next announcement, or the end of the connection.
    async fn next(&mut self) -> Heard {
        match self {
            #[cfg(feature = "postgres")]
            // `try_recv`, not `recv`: `recv` reconnects by itself and drops silently what
            // was announced meanwhile; `Ok(None)` says the connection was lost, and
            // listening afresh polls once.
            Self::Postgres(listener) => match listener.try_recv().await {
                Ok(Some(notification)) => Heard::Announcement(notification.payload().to_owned()),
                Ok(None) => Heard::Lost("the connection closed".into()),
                Err(err) => Heard::Lost(err.to_string()),
            },
            #[cfg(feature = "redis")]
            Self::Redis(messages) => {
                use futures_util::StreamExt as _;
                match messages.next().await {
                    Some(message) => {
                        Heard::Announcement(message.get_payload::<String>().unwrap_or_default())
                    }
                    None => Heard::Lost("the Redis subscription ended".into()),
                }
            }
        }
    }
}
