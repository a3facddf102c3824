//! The accept loop: HTTP/1.1 over hyper with the limits `axum::serve`
//! lacks, shared by the control server and `tokenctl`'s local proxy
//! ([`serve_limited`], over TCP or a Unix socket: [`Accept`]). Every
//! accepted socket is a file descriptor the token work may need, so this
//! loop (not a request-level middleware) bounds them:
//!
//! - at most [`ServeLimits::max_connections`] sockets are held; a
//!   connection beyond that is accepted and closed at once with a `503`
//!   (refused cleanly, holding a descriptor for microseconds);
//! - a client must send its request head within
//!   [`ServeLimits::header_read_timeout`], and no connection lives longer
//!   than [`ServeLimits::connection_timeout`]; with keep-alive off (the
//!   default) an idle socket is one that has not sent its head yet; with
//!   [`ServeLimits::keep_alive`] the same timeout also closes a connection
//!   idle between two requests (hyper starts it when it waits for a head);
//! - on shutdown the listener closes at once, open connections get
//!   [`ServeLimits::shutdown_grace`] to finish, and the rest are dropped:
//!   a client holding a half-sent request cannot keep the process alive.

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};
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
    /// Serve more than one request per connection (HTTP keep-alive). A
    /// connection waiting for its next request is closed after
    /// `header_read_timeout` (the idle timeout); one that reaches
    /// `connection_timeout` finishes the request under way (at most
    /// `shutdown_grace` more) and closes. Off by default: one request per
    /// connection.
    pub keep_alive: bool,
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
            keep_alive: false,
        }
    }
}

/// What a refused connection reads (if it reads at all).
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A listener [`serve_limited`] accepts from: TCP or a Unix socket.
pub trait Accept: Send + 'static {
    /// An accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Who connected; handlers read it as `ConnectInfo<Self::Peer>`.
    type Peer: Clone + Debug + Send + Sync + 'static;
    /// The next connection.
    fn accept_one(&self) -> impl Future<Output = io::Result<(Self::Io, Self::Peer)>> + Send;
    /// Writes `answer` if it can be written at once (never waits).
    fn try_answer(io: &Self::Io, answer: &[u8]);
}

impl Accept for TcpListener {
    type Io = TcpStream;
    type Peer = SocketAddr;
    fn accept_one(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        self.accept()
    }
    fn try_answer(io: &TcpStream, answer: &[u8]) {
        let _ = io.try_write(answer);
    }
}

#[cfg(unix)]
impl Accept for UnixListener {
    type Io = UnixStream;
    type Peer = tokio::net::unix::SocketAddr;
    fn accept_one(
        &self,
    ) -> impl Future<Output = io::Result<(UnixStream, tokio::net::unix::SocketAddr)>> + Send {
        self.accept()
    }
    fn try_answer(io: &UnixStream, answer: &[u8]) {
        let _ = io.try_write(answer);
    }
}

/// Serves `router` on `listener` until `shutdown`, within `limits` (see the
/// module docs): the control server's accept loop, and the local proxy's.
/// Returns at most [`ServeLimits::shutdown_grace`] after `shutdown`.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let router = axum::Router::new();
/// control::serve_limited(listener, router, control::ServeLimits::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// # Ok(()) }
/// ```
pub async fn serve_limited<L: Accept>(
    listener: L,
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
            accepted = listener.accept_one() => match accepted {
                Ok((stream, peer)) => {
                    exhausted_logged = false;
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let conn = Connection { router: router.clone(), limits, peer, _permit: permit };
                            connections.spawn(conn.run(stream, closing.clone()));
                        }
                        Err(_) => {
                            tracing::debug!(?peer, "server at its connection cap; refusing");
                            L::try_answer(&stream, BUSY);
                        }
                    }
                }
                Err(e) => {
                    // EMFILE/ENFILE (or a client that gave up): the socket
                    // stays in the backlog; pause instead of spinning.
                    if !exhausted_logged {
                        tracing::warn!(error = %e, "server cannot accept; pausing");
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
            "server: dropping connections still open after the shutdown grace"
        );
        connections.shutdown().await;
    }
}

/// One accepted socket, holding its slot until it ends.
struct Connection<P> {
    router: Router,
    limits: ServeLimits,
    peer: P,
    _permit: OwnedSemaphorePermit,
}

impl<P: Clone + Debug + Send + Sync + 'static> Connection<P> {
    async fn run<S>(self, stream: S, mut closing: watch::Receiver<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            limits,
            peer,
            _permit,
        } = self;
        let who = peer.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(who.clone()));
            // Router is always ready (axum documents it), so no poll_ready.
            tower_service::Service::call(&mut router.clone(), req)
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(limits.keep_alive)
            .max_buf_size(64 * 1024);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let lifetime = tokio::time::sleep(limits.connection_timeout);
        tokio::pin!(lifetime);
        let outlived = tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(?peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut lifetime => true,
            _ = closing.wait_for(|c| *c) => false,
        };
        if outlived {
            tracing::debug!(?peer, "connection outlived its limit; closing");
            if limits.keep_alive {
                // A kept-alive connection may be mid-request: let it finish
                // within the grace, then close.
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(limits.shutdown_grace, conn.as_mut()).await;
            }
            return;
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
