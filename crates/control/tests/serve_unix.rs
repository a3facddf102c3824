//! `control::serve_limited` over a Unix socket (the local proxy's second
//! listener): the same cap, header timeout and bounded shutdown as TCP.

#![cfg(unix)]

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use control::ServeLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

fn limits(max_connections: usize, header: Duration) -> ServeLimits {
    ServeLimits {
        max_connections,
        header_read_timeout: header,
        connection_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(300),
        keep_alive: true,
    }
}

async fn read_until_closed(s: &mut UnixStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_unix_socket_is_capped_timed_out_and_shut_down_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let router = Router::new().route("/", get(|| async { "served" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let header = Duration::from_millis(300);
    let mut task = tokio::spawn(control::serve_limited(
        listener,
        router,
        limits(2, header),
        async {
            let _ = stopped.await;
        },
    ));
    let started = Instant::now();
    let mut silent = [
        UnixStream::connect(&path).await.unwrap(),
        UnixStream::connect(&path).await.unwrap(),
    ];
    // Over the cap: refused at once (503 or closed), never served.
    let mut third = UnixStream::connect(&path).await.unwrap();
    let _ = third.write_all(GET).await;
    let answer = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("refused at once");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    // The silent ones are closed by the server after the header timeout.
    for s in &mut silent {
        read_until_closed(s, Duration::from_secs(5))
            .await
            .expect("a silent socket is closed");
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Then a request is served.
    let mut ok = UnixStream::connect(&path).await.unwrap();
    ok.write_all(GET).await.unwrap();
    let answer = read_until_closed(&mut ok, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("served"), "{answer}");
    // Shutdown with a half-sent request held open: bounded by the grace.
    let mut hostile = UnixStream::connect(&path).await.unwrap();
    hostile.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .expect("shutdown is bounded")
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
}
