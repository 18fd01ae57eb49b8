//! A rate-limit check in Redis against the same check in memory, interleaved in one run
//! (cargo feature `redis`; Redis at `PORTCULLIS_BENCH_REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
//!
//! ```sh
//! cargo bench --features redis --bench limits
//! ```
//!
//! One check at a time (a request's latency) and 64 at once (an instance's throughput).
//! Printed, never asserted.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use portcullis::rate_limit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter, Rule};

mod common;
use common::middle;

const ROUNDS: usize = 7;
const BATCH: usize = 2_000;

/// Checks per second over `BATCH` checks, `parallel` at a time, on distinct keys.
async fn run(limiter: Arc<dyn RateLimiter>, parallel: usize, round: usize) -> f64 {
    let rule = Rule::new(1_000_000, Duration::from_secs(1));
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|worker| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                for n in 0..BATCH / parallel {
                    let key = format!("bench:{round}:{worker}:{}", n % 64);
                    let _ = limiter.check(&key, rule).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    BATCH as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("PORTCULLIS_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    rt.block_on(async {
        let redis: Arc<dyn RateLimiter> = match RedisRateLimiter::connect(&url).await {
            Ok(limiter) => Arc::new(limiter.prefix(format!("pt-bench:{}:", std::process::id()))),
            Err(err) => {
                println!("Redis: skipped ({err})");
                return;
            }
        };
        let memory: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::default());
        println!("== a rate-limit check: Redis against memory (median of {ROUNDS}) ==");
        for parallel in [1, 64] {
            let (mut in_memory, mut in_redis) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                in_memory.push(run(memory.clone(), parallel, round).await);
                in_redis.push(run(redis.clone(), parallel, round).await);
            }
            let (m, r) = (middle(in_memory), middle(in_redis));
            println!(
                "{parallel:>2} at a time: memory {m:>10.0} checks/s, Redis {r:>8.0} checks/s -> {:.4}x ({:.0} µs per Redis check)",
                r / m,
                1e6 / r * parallel as f64
            );
        }
    });
}
