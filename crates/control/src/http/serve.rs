//! The accept loop: HTTP/1.1 over hyper with the limits `axum::serve`
//! lacks. Every accepted socket is a file descriptor the token work may
//! need, so this loop (not a request-level middleware) bounds them:
//!
//! - at most [`ServeLimits::max_connections`] sockets are held; a
//!   connection beyond that is accepted and closed at once with a `503`
//!   (refused cleanly, holding a descriptor for microseconds);
//! - a client must send its request head within
//!   [`ServeLimits::header_read_timeout`], and no connection lives longer
//!   than [`ServeLimits::connection_timeout`]; keep-alive is off, so an idle
//!   socket is one that has not sent its head yet;
//! - on shutdown the listener closes at once, open connections get
//!   [`ServeLimits::shutdown_grace`] to finish, and the rest are dropped:
//!   a client holding a half-sent request cannot keep the process alive.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::nofile::nofile_limit;

/// Connections held at most, whatever the open-file limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Time a client gets to send its request head (a silent socket is closed
/// after this).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection (one request: a renewal included).
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Time open connections get to finish after shutdown is asked.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How many connections the server holds and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Sockets held at once; more are refused with `503`.
    pub max_connections: usize,
    /// Time to send the request head.
    pub header_read_timeout: Duration,
    /// Longest life of one connection.
    pub connection_timeout: Duration,
    /// Time open connections get after shutdown; then they are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    /// [`DEFAULT_MAX_CONNECTIONS`], but never more than a quarter of the
    /// soft open-file limit in force, so three quarters stay for the token
    /// work (stores, locks, broker connections) and everything else.
    ///
    /// ```
    /// let l = control::ServeLimits::default();
    /// assert!(l.max_connections >= 8 && l.max_connections <= control::DEFAULT_MAX_CONNECTIONS);
    /// ```
    fn default() -> Self {
        let quarter = nofile_limit()
            .and_then(|l| l.soft)
            .map_or(usize::MAX, |s| usize::try_from(s / 4).unwrap_or(usize::MAX));
        Self {
            max_connections: quarter.clamp(8, DEFAULT_MAX_CONNECTIONS),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// What a refused connection reads (if it reads at all).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Serves `router` on `listener` until `shutdown`, within `limits`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut exhausted_logged = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    exhausted_logged = false;
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let conn = Connection { router: router.clone(), limits, peer, _permit: permit };
                            connections.spawn(conn.run(stream, closing.clone()));
                        }
                        Err(_) => refuse(stream, peer),
                    }
                }
                Err(e) => {
                    // EMFILE/ENFILE (or a client that gave up): the socket
                    // stays in the backlog; pause instead of spinning.
                    if !exhausted_logged {
                        tracing::warn!(error = %e, "control server cannot accept; pausing");
                        exhausted_logged = true;
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open,
            left = connections.len(),
            grace = ?limits.shutdown_grace,
            "control server: dropping connections still open after the shutdown grace"
        );
        connections.shutdown().await;
    }
}

/// Closes a connection over the cap, telling it why if it can be told at once.
fn refuse(stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "control server at its connection cap; refusing");
    let _ = stream.try_write(BUSY);
}

/// One accepted socket, holding its slot until it ends.
struct Connection {
    router: Router,
    limits: ServeLimits,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, mut closing: watch::Receiver<bool>) {
        let Connection {
            router,
            limits,
            peer,
            _permit,
        } = self;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // Router is always ready (axum documents it), so no poll_ready.
            tower_service::Service::call(&mut router.clone(), req)
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(false)
            .max_buf_size(64 * 1024);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let lifetime = tokio::time::sleep(limits.connection_timeout);
        tokio::pin!(lifetime);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "control connection ended with an error");
                }
                return;
            }
            () = &mut lifetime => {
                tracing::debug!(%peer, "control connection outlived its limit; closing");
                return;
            }
            _ = closing.wait_for(|c| *c) => {}
        }
        // Shutting down: finish the request in flight, if any; the caller
        // drops this task when the grace runs out.
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            _ = conn.as_mut() => {}
            () = &mut lifetime => {}
        }
    }
}
