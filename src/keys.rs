//! The signing-key ring: every instance signs with the same ES256 key, loaded from the
//! database, and publishes every key whose tokens may still be alive.
//!
//! The private half of each key is sealed with AES-256-GCM under a key derived from the
//! server secret (bound to its `kid`), so a copy of the database alone cannot mint tokens.
//! [`rotate`] adds a new active key and retires the old ones, which stay in the JWKS
//! until the last token they signed has expired.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Error,
    crypto::{
        self, DerivedKeys,
        jwt::{SigningKey, VerifyingKey},
    },
    entity::{Redacted, signing_key},
    store,
};

/// The keys as loaded at one moment.
pub(crate) struct Keys {
    pub(crate) signing: SigningKey,
    /// When the signing key was created (a scheduled rotation counts from it).
    pub(crate) signing_since: OffsetDateTime,
    pub(crate) verifying: HashMap<String, VerifyingKey>,
    /// The JWKS document, serialised once per load.
    pub(crate) jwks: Arc<[u8]>,
}

/// The current [`Keys`], swapped whole on reload.
pub(crate) struct KeyRing {
    current: RwLock<Arc<Keys>>,
    /// When an unknown `kid` last made this instance reload. The poll's own reloads do not
    /// count: they must not use up the reload that takes a key another instance has just
    /// started signing with.
    last_on_demand: Mutex<Instant>,
}

/// A token with an unknown `kid` may trigger a reload at most this often.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(5);

impl KeyRing {
    /// Loads the ring, creating the first key when the table is empty.
    pub(crate) async fn load(db: &DatabaseConnection, keys: &DerivedKeys) -> Result<Self, Error> {
        let loaded = load_keys(db, keys).await?;
        Ok(Self {
            current: RwLock::new(Arc::new(loaded)),
            // Never reloaded on demand yet: the first unknown `kid` may reload at once.
            last_on_demand: Mutex::new(
                Instant::now()
                    .checked_sub(RELOAD_AT_MOST_EVERY)
                    .unwrap_or_else(Instant::now),
            ),
        })
    }

    pub(crate) fn current(&self) -> Arc<Keys> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the keys from the database (on the poll interval, after a rotation).
    pub(crate) async fn reload(
        &self,
        db: &DatabaseConnection,
        keys: &DerivedKeys,
    ) -> Result<(), Error> {
        let loaded = load_keys(db, keys).await?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        Ok(())
    }

    /// Whether an unknown `kid` may trigger a reload now (rate-limited, so forged `kid`s
    /// cannot hammer the database).
    pub(crate) fn may_reload(&self) -> bool {
        let mut last = self
            .last_on_demand
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() < RELOAD_AT_MOST_EVERY {
            return false;
        }
        *last = Instant::now();
        true
    }
}

async fn load_keys(db: &DatabaseConnection, keys: &DerivedKeys) -> Result<Keys, Error> {
    let now = store::now();
    let mut rows = store::keys::published(db, now).await?;
    if !rows.iter().any(|row| row.retired_at.is_none()) {
        // First start: create the first key. Instances starting together may each insert
        // one; everyone then signs with the oldest active key, so they agree.
        store::keys::insert(db, new_key_row(keys, now)?).await?;
        rows = store::keys::published(db, now).await?;
    }
    let active = rows
        .iter()
        .find(|row| row.retired_at.is_none())
        .ok_or_else(|| Error::internal("no active signing key after creating one"))?;
    let sealed = crypto::b64_decode(&active.private_key.0)
        .ok_or_else(|| Error::internal("signing key is not base64url"))?;
    let pkcs8 = keys.open(active.id.as_bytes(), &sealed).ok_or_else(|| {
        Error::internal(format!(
            "signing key {} cannot be opened: every instance sharing this database must use the same server secret",
            active.id
        ))
    })?;
    let signing = SigningKey::from_pkcs8(active.id.clone(), &pkcs8)
        .ok_or_else(|| Error::internal("signing key is not a P-256 PKCS#8 document"))?;
    let verifying: HashMap<String, VerifyingKey> = rows
        .iter()
        .filter_map(|row| {
            let point = crypto::b64_decode(&row.public_key)?;
            Some((
                row.id.clone(),
                VerifyingKey {
                    kid: row.id.clone(),
                    point,
                },
            ))
        })
        .collect();
    let jwks_keys: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|row| verifying.get(&row.id).map(VerifyingKey::to_jwk))
        .collect();
    let jwks =
        serde_json::to_vec(&serde_json::json!({ "keys": jwks_keys })).map_err(Error::internal)?;
    Ok(Keys {
        signing,
        signing_since: active.created_at,
        verifying,
        jwks: Arc::from(jwks),
    })
}

fn new_key_row(keys: &DerivedKeys, now: OffsetDateTime) -> Result<signing_key::Model, Error> {
    let kid = Uuid::now_v7().simple().to_string();
    let (pkcs8, key) = SigningKey::generate(kid.clone())
        .ok_or_else(|| Error::internal("P-256 key generation failed"))?;
    Ok(signing_key::Model {
        id: kid.clone(),
        algorithm: "ES256".into(),
        public_key: crypto::b64_encode(key.public_point()),
        private_key: Redacted(crypto::b64_encode(&keys.seal(kid.as_bytes(), &pkcs8))),
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

/// Adds a new active key and retires the others, which stay published for
/// `retired_key_lifetime` (the longest any token they signed can still be valid). With
/// `due_before`, only if the active key was created by then (another instance may have
/// rotated a moment ago): the new `kid`, or `None` when it was not due.
pub(crate) async fn rotate(
    db: &DatabaseConnection,
    keys: &DerivedKeys,
    retired_key_lifetime: Duration,
    now: OffsetDateTime,
    due_before: Option<OffsetDateTime>,
) -> Result<Option<String>, Error> {
    let row = new_key_row(keys, now)?;
    let kid = row.id.clone();
    let publish_until = now + retired_key_lifetime;
    let rotated = store::keys::rotate(db, row, publish_until, due_before).await?;
    Ok(rotated.then_some(kid))
}
