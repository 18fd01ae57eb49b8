//! What the benchmarks share: interleaved timing and request helpers.

#![allow(dead_code)]

use std::time::Duration;

use axum::body::Body;
use http::Request;
use serde_json::Value;

/// Runs each routine in turn, round after round (so drift and noise from the rest of the
/// machine hit them alike), and returns each one's median seconds per iteration.
pub(crate) fn interleaved<const N: usize>(
    rounds: usize,
    iters: u64,
    routines: [&dyn Fn(u64) -> Duration; N],
) -> [f64; N] {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (routine, samples) in routines.iter().zip(samples.iter_mut()) {
            samples.push(routine(iters).as_secs_f64() / iters as f64);
        }
    }
    samples.map(middle)
}

pub(crate) fn middle(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

pub(crate) fn json_post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}
