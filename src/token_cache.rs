//! The cache of verified access tokens: a token whose signature and claims were checked
//! once maps to its claims, so the layer's common case is a lookup, not a signature check.
//! Bounded (`sessions.token_cache_capacity`), keyed by the whole token.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex, PoisonError},
};

use uuid::Uuid;

use crate::crypto::jwt::Claims;

/// The cache of verified tokens: each token maps to its verified claims.
pub(crate) type TokenCache = quick_cache::sync::Cache<TokenKey, Arc<Claims>>;

/// A verified access token as a cache key. Equal only to the very same token; hashed on
/// its last 32 bytes, which lie in the signature (random per token), so keys spread as
/// well as with the whole token at a fraction of the hashing on every request.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenKey(Box<str>);

impl TokenKey {
    pub(crate) fn new(token: &str) -> Self {
        Self(token.into())
    }
}

/// A presented token, looked up without copying it, as the request's bytes: a token
/// equal to a cached (verified, so valid UTF-8) one needs no UTF-8 check of its own.
pub(crate) struct TokenRef<'a>(pub(crate) &'a [u8]);

fn hash_tail(bytes: &[u8], state: &mut impl Hasher) {
    bytes[bytes.len().saturating_sub(32)..].hash(state);
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tail(self.0.as_bytes(), state);
    }
}

impl Hash for TokenRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_tail(self.0, state);
    }
}

impl quick_cache::Equivalent<TokenKey> for TokenRef<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        self.0 == key.0.as_bytes()
    }
}

/// When each key's use was last written, so a busy key writes `last_used_at` at most
/// once a minute, off the request path.
#[derive(Default)]
pub(crate) struct KeyUses(Mutex<HashMap<Uuid, i64>>);

/// How many keys the table remembers before it starts over (a busy key writes one more
/// time than it would have).
const KEY_USES_CAPACITY: usize = 100_000;

impl KeyUses {
    /// Whether this use of `id` should be written now.
    pub(crate) fn due(&self, id: Uuid, now: i64) -> bool {
        let mut uses = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if uses.len() >= KEY_USES_CAPACITY {
            uses.clear();
        }
        let last = uses.entry(id).or_insert(i64::MIN);
        if now.saturating_sub(*last) >= 60 {
            *last = now;
            true
        } else {
            false
        }
    }
}
