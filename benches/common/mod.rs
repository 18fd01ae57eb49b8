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

/// Requests per second a real HTTP/1.1 server answers for `/hello`, driven over loopback
/// by `connections` keep-alive clients for `duration`.
pub(crate) fn http_throughput(
    rt: &tokio::runtime::Runtime,
    app: axum::Router,
    token: &str,
    connections: usize,
    duration: Duration,
) -> f64 {
    let request =
        format!("GET /hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n");
    let (rps, failed) = http_load(rt, app, &request, connections, duration);
    assert_eq!(failed, 0, "/hello failed");
    rps
}

/// What axum can serve: a router, or a router inside a layer.
pub(crate) trait HttpApp:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpApp for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// Drives `app` (a router, or a router inside a layer) on a real HTTP/1.1 server over
/// loopback: `connections` keep-alive clients send `request` (the raw request text) back to
/// back for `duration`. Answers requests per second and how many answers were not 2xx.
pub(crate) fn http_load(
    rt: &tokio::runtime::Runtime,
    app: impl HttpApp,
    request: &str,
    connections: usize,
    duration: Duration,
) -> (f64, u64) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
            std::net::SocketAddr,
        >(app);
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let deadline = std::time::Instant::now() + duration;
        let clients: Vec<_> = (0..connections)
            .map(|_| {
                let request = request.to_owned();
                tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    let (mut served, mut failed) = (0u64, 0u64);
                    let mut line = String::new();
                    while std::time::Instant::now() < deadline {
                        write.write_all(request.as_bytes()).await.unwrap();
                        line.clear();
                        read.read_line(&mut line).await.unwrap();
                        if !line.starts_with("HTTP/1.1 2") {
                            failed += 1;
                        }
                        let mut length = 0usize;
                        loop {
                            line.clear();
                            read.read_line(&mut line).await.unwrap();
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(value) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0u8; length];
                        read.read_exact(&mut body).await.unwrap();
                        served += 1;
                    }
                    (served, failed)
                })
            })
            .collect();
        let start = std::time::Instant::now();
        let (mut total, mut failed) = (0, 0);
        for client in clients {
            let (served, bad) = client.await.unwrap();
            total += served;
            failed += bad;
        }
        let elapsed = start.elapsed().as_secs_f64();
        server.abort();
        (total as f64 / elapsed, failed)
    })
}
