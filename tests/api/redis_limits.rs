//! Shared rate limits in Redis (cargo feature `redis`), against the machine's Redis
//! (`PORTCULLIS_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): the memory limiter's
//! rules, atomically, shared by every instance, and Redis going away mid-run.

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use portcullis::rate_limit::{Limit, RateLimiter, RedisRateLimiter, Rule, WhenRedisIsDown};

use crate::{common::*, relay::Relay};

fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A limiter whose keys no other test (or earlier run) shares.
async fn limiter() -> RedisRateLimiter {
    RedisRateLimiter::connect(&redis_url())
        .await
        .expect("Redis must run for the redis feature's tests (see env)")
        .prefix(format!("pt-test:{}:", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn a_burst_then_one_attempt_per_period_like_the_memory_limiter() {
    let limiter = limiter().await;
    let rule = Rule::new(3, Duration::from_secs(60));
    for _ in 0..3 {
        assert!(limiter.check("ip:203.0.113.7", rule).await.is_ok());
    }
    let refused = limiter.check("ip:203.0.113.7", rule).await.unwrap_err();
    assert!(
        refused.retry_after > Duration::from_secs(58)
            && refused.retry_after <= Duration::from_secs(60),
        "{:?}",
        refused.retry_after
    );
    // Other keys have their own buckets.
    assert!(limiter.check("ip:198.51.100.1", rule).await.is_ok());

    // One attempt comes back after one period.
    let quick = Rule::new(1, Duration::from_millis(300));
    assert!(limiter.check("quick", quick).await.is_ok());
    assert!(limiter.check("quick", quick).await.is_err());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(limiter.check("quick", quick).await.is_ok());
}

#[tokio::test]
async fn a_hundred_parallel_attempts_never_exceed_the_burst() {
    let limiter = Arc::new(limiter().await);
    let rule = Rule::new(10, Duration::from_secs(60));
    let attempts: Vec<_> = (0..100)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(
                async move { limiter.check("sign_in_per_email:a@example.com", rule).await },
            )
        })
        .collect();
    let mut passed = 0;
    for attempt in attempts {
        passed += usize::from(attempt.await.unwrap().is_ok());
    }
    assert_eq!(passed, 10);
}

#[tokio::test]
async fn guessing_spread_over_instances_is_held_to_one_instance_limit() {
    let prefix = format!("pt-test:{}:", uuid::Uuid::new_v4().simple());
    let rule = Rule::new(3, Duration::from_secs(60));
    let first = app_with(|b| {
        b.requests(|r| r.rate_limit = true)
            .limit(Limit::SignInPerEmail, rule)
    })
    .await;
    sign_up(&first.app, "target@example.com").await;
    let shared = |prefix: String| async move {
        RedisRateLimiter::connect(&redis_url())
            .await
            .unwrap()
            .prefix(prefix)
    };
    // Two instances on one database and one Redis.
    let a = app_on(first.db.clone(), {
        let limiter = shared(prefix.clone()).await;
        move |b| {
            b.requests(|r| r.rate_limit = true)
                .limit(Limit::SignInPerEmail, rule)
                .rate_limiter(limiter)
        }
    })
    .await;
    let b = app_on(first.db.clone(), {
        let limiter = shared(prefix.clone()).await;
        move |b| {
            b.requests(|r| r.rate_limit = true)
                .limit(Limit::SignInPerEmail, rule)
                .rate_limiter(limiter)
        }
    })
    .await;
    // Each guess from a new IP, alternating instances: only the per-email limit applies.
    let mut statuses = Vec::new();
    for n in 0..6u8 {
        let app = if n % 2 == 0 { &a.app } else { &b.app };
        let resp = post_("/v1/auth/sign-in/email-password")
            .json(serde_json::json!({ "email": "target@example.com", "password": "not the password" }))
            .ip(&format!("198.51.100.{}", n + 1))
            .send(app)
            .await;
        statuses.push(resp.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
}

#[tokio::test]
async fn redis_going_away_falls_back_or_fails_closed_as_the_host_chose() {
    let upstream = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = Relay::start(upstream).await;
    let through_relay = format!("redis://{}", relay.addr);
    let fall_back = RedisRateLimiter::connect(&through_relay)
        .await
        .unwrap()
        .prefix(format!("pt-test:{}:", uuid::Uuid::new_v4().simple()));
    let fail_closed = RedisRateLimiter::connect(&through_relay)
        .await
        .unwrap()
        .prefix(format!("pt-test:{}:", uuid::Uuid::new_v4().simple()))
        .when_down(WhenRedisIsDown::FailClosed);
    let rule = Rule::new(2, Duration::from_secs(60));
    assert!(fall_back.check("k", rule).await.is_ok());

    relay.cut();
    // Falling back: the limits still hold, counted in this process, within the timeout.
    let started = std::time::Instant::now();
    assert!(fall_back.check("k", rule).await.is_ok());
    assert!(fall_back.check("k", rule).await.is_ok());
    assert!(
        fall_back.check("k", rule).await.is_err(),
        "no limit while Redis is down"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Failing closed: portcullis answers 503 (never 500), and no sign-in gets through.
    let t = app_with(move |b| {
        b.requests(|r| r.rate_limit = true)
            .rate_limiter(fail_closed)
    })
    .await;
    let resp = sign_in(&t.app, "anyone@example.com", PASSWORD).await;
    assert_eq!(
        resp.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        resp.text
    );
    assert_eq!(resp.json["error"], "unavailable");
}

/// With `.redis_revocations(url)`, a sign-out on one instance reaches another through
/// Redis pub/sub on any database (the poll is a minute here: only the push can do it),
/// and again after the other instance lost its subscription and took it up again.
#[tokio::test]
async fn revocations_are_pushed_through_redis_even_after_a_lost_connection() {
    let upstream = redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = Relay::start(upstream).await;
    let minute = Duration::from_secs(60);
    let a = app_with(|b| {
        b.sessions(|s| s.revocation_poll_interval = minute)
            .redis_revocations(redis_url())
    })
    .await;
    let b = app_on(a.db.clone(), |b| {
        b.sessions(|s| s.revocation_poll_interval = minute)
            .redis_revocations(format!("redis://{}", relay.addr))
    })
    .await;
    let token = sign_up(&a.app, "pushed@example.com").await.access_token();
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
    // Both subscriptions start with their instances.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        signed_out_everywhere(&a.app, &b.app, &token, Duration::from_secs(3)).await,
        "the other instance still accepts a signed-out token"
    );

    // b's subscription drops; it subscribes again by itself.
    relay.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay.restore();
    let again = sign_in(&a.app, "pushed@example.com", PASSWORD).await;
    let token = again.access_token();
    assert_eq!(hello(&b.app, &token).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        signed_out_everywhere(&a.app, &b.app, &token, Duration::from_secs(3)).await,
        "after reconnecting, the other instance missed a sign-out"
    );
}

/// A URL that is not one fails the build, naming Redis.
#[tokio::test]
async fn a_malformed_redis_url_for_revocations_fails_the_build() {
    let db = database().await;
    let err = builder(db)
        .redis_revocations("not a url")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("redis"), "{err}");
}
