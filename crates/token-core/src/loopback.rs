//! A loopback listener that captures a login redirect (OAuth 2 style: the
//! broker sends the browser to a registered `http://127.0.0.1:PORT/path`).
//!
//! Register a redirect URI such as `http://127.0.0.1:8080/callback` with the
//! broker; [`LoopbackListener::bind`] listens on `127.0.0.1:8080`, and
//! [`LoopbackListener::capture_login`] waits for the browser to land there,
//! answers with a short "you can close this tab" page and returns the full
//! redirect URL (which holds the auth code, hence a secret).
//! [`login_via_loopback`] does the whole login with a [`TokenManager`].
//!
//! Other local programs can reach the port too, so the listener trusts none
//! of them: every connection is served on its own task with a deadline (a
//! client that connects and says nothing cannot hold up the browser), at most
//! [`MAX_CONNECTIONS`] at once, and a redirect whose `state` is not the one
//! of the login in progress is answered, logged and ignored: the listener
//! keeps waiting for the right one.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use url::Url;

use crate::net::is_loopback;
use crate::{Credentials, Error, Payload, TokenManager};

/// The page the browser shows after the redirect.
const DONE_PAGE: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Login received</title></head>\
<body><h1>Login received</h1><p>You can close this tab.</p></body></html>";

/// The page for a redirect that belongs to another (older or forged) login.
const WRONG_STATE_PAGE: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Not this login</title></head>\
<body><h1>This response does not belong to the login in progress</h1>\
<p>It was ignored. Open the newest login link and try again.</p></body></html>";

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request head. A browser
/// sends it at once; a client that dawdles longer is cut off.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once; more are closed at once. Far above what a
/// browser opens, far below what would exhaust file descriptors.
pub const MAX_CONNECTIONS: usize = 32;

/// Why capturing the redirect failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The redirect URI is not `http://` on a loopback host.
    #[error(
        "redirect_uri must be http:// on 127.0.0.1, localhost or [::1] for a loopback listener"
    )]
    NotLoopback,
    /// The redirect URI cannot be parsed.
    #[error("redirect_uri is not a URL: {0}")]
    BadRedirectUri(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No redirect arrived in time.
    #[error("no login redirect arrived within {0:?}")]
    Timeout(Duration),
    /// Accepting a connection failed.
    #[error("listener I/O error: {0}")]
    Io(#[source] std::io::Error),
}

impl From<ListenerError> for Error {
    fn from(e: ListenerError) -> Self {
        match e {
            ListenerError::NotLoopback
            | ListenerError::BadRedirectUri(_)
            | ListenerError::Bind { .. } => Error::Config(e.to_string()),
            ListenerError::Timeout(_) | ListenerError::Io(_) => Error::transient(e.to_string()),
        }
    }
}

/// Listens on loopback for one login redirect.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    redirect: Url,
    head_timeout: Duration,
}

fn loopback_redirect(redirect_uri: &str) -> Result<Url, ListenerError> {
    let url = Url::parse(redirect_uri).map_err(|e| ListenerError::BadRedirectUri(e.to_string()))?;
    if url.scheme() != "http" || !is_loopback(&url) {
        return Err(ListenerError::NotLoopback);
    }
    Ok(url)
}

/// The `state` query parameter of a URL, if any.
fn state_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
}

/// What one connection turned out to be.
enum Visit {
    /// The redirect of the login in progress.
    Redirect(SecretString),
    /// Anything else (another path, a wrong `state`, garbage, silence).
    Other,
}

impl LoopbackListener {
    /// Binds `127.0.0.1` on the redirect URI's port (80 when it has none).
    pub async fn bind(redirect_uri: &str) -> Result<Self, ListenerError> {
        let redirect = loopback_redirect(redirect_uri)?;
        let port = redirect.port_or_known_default().unwrap_or(80);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ListenerError::Bind { addr, source })?;
        Ok(Self {
            listener,
            redirect,
            head_timeout: HEAD_TIMEOUT,
        })
    }

    /// Uses a socket you bound yourself (e.g. on port 0 in tests).
    pub fn from_listener(listener: TcpListener, redirect_uri: &str) -> Result<Self, ListenerError> {
        Ok(Self {
            listener,
            redirect: loopback_redirect(redirect_uri)?,
            head_timeout: HEAD_TIMEOUT,
        })
    }

    /// How long one connection may take to send its request head
    /// (default [`HEAD_TIMEOUT`]).
    pub fn with_head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout;
        self
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Result<SocketAddr, ListenerError> {
        self.listener.local_addr().map_err(ListenerError::Io)
    }

    /// Waits up to `timeout` for the redirect of the login whose URL is
    /// `login_url`: only a redirect carrying that URL's `state` is accepted;
    /// others are answered with "not this login", logged and ignored. A
    /// login URL without `state` accepts any redirect, like
    /// [`LoopbackListener::capture`].
    pub async fn capture_login(
        self,
        login_url: &str,
        timeout: Duration,
    ) -> Result<SecretString, ListenerError> {
        let state = Url::parse(login_url).ok().and_then(|u| state_of(&u));
        self.capture_state(state, timeout).await
    }

    /// Waits up to `timeout` for a request to the redirect path, answers it
    /// with a "you can close this tab" page and returns the full redirect URL.
    /// Requests to other paths (a browser's `/favicon.ico`) get a 404. Any
    /// `state` is accepted: prefer [`LoopbackListener::capture_login`].
    pub async fn capture(self, timeout: Duration) -> Result<SecretString, ListenerError> {
        self.capture_state(None, timeout).await
    }

    async fn capture_state(
        self,
        state: Option<String>,
        timeout: Duration,
    ) -> Result<SecretString, ListenerError> {
        tokio::time::timeout(timeout, self.accept_loop(state))
            .await
            .map_err(|_| ListenerError::Timeout(timeout))?
    }

    async fn accept_loop(&self, state: Option<String>) -> Result<SecretString, ListenerError> {
        // Dropping the set (on return or timeout) aborts every connection.
        let mut connections = JoinSet::new();
        let (found_tx, mut found) = mpsc::channel::<SecretString>(1);
        loop {
            tokio::select! {
                Some(url) = found.recv() => return Ok(url),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (stream, peer) = accepted.map_err(ListenerError::Io)?;
                    if connections.len() >= MAX_CONNECTIONS {
                        tracing::warn!(%peer, "too many connections to the login listener; closing one");
                        continue;
                    }
                    let visit = Visitor {
                        redirect: self.redirect.clone(),
                        state: state.clone(),
                        head_timeout: self.head_timeout,
                    };
                    let found_tx = found_tx.clone();
                    connections.spawn(async move {
                        if let Visit::Redirect(url) = visit.serve(stream).await {
                            let _ = found_tx.send(url).await;
                        }
                    });
                }
            }
        }
    }
}

/// Serves one connection.
struct Visitor {
    redirect: Url,
    state: Option<String>,
    head_timeout: Duration,
}

impl Visitor {
    async fn serve(self, mut stream: TcpStream) -> Visit {
        let Ok(Some(head)) = tokio::time::timeout(self.head_timeout, read_head(&mut stream)).await
        else {
            return Visit::Other;
        };
        let url = request_target(&head).and_then(|t| self.redirect.join(t).ok());
        let (status, page, visit) = match url {
            Some(u) if u.path() == self.redirect.path() => {
                let state = state_of(&u);
                match &self.state {
                    Some(expected) if state.as_deref() != Some(expected.as_str()) => {
                        // Never log the URL: it may carry an auth code.
                        tracing::warn!(
                            has_state = state.is_some(),
                            "ignored a login redirect whose state is not the login in progress; still waiting"
                        );
                        ("400 Bad Request", WRONG_STATE_PAGE, Visit::Other)
                    }
                    _ => (
                        "200 OK",
                        DONE_PAGE,
                        Visit::Redirect(SecretString::from(u.to_string())),
                    ),
                }
            }
            _ => ("404 Not Found", "", Visit::Other),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let write = async {
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        };
        let _ = tokio::time::timeout(self.head_timeout, write).await;
        visit
    }
}

/// Reads up to the end of the request head (or gives up on garbage).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_HEAD {
            break;
        }
    }
    String::from_utf8(buf).ok()
}

/// The target of a `GET <target> HTTP/1.x` request line.
fn request_target(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(v))
            if v.starts_with("HTTP/") && target.starts_with('/') =>
        {
            Some(target)
        }
        _ => None,
    }
}

/// Logs in through the loopback listener: starts (or reuses) the manager's
/// pending authorization, hands the login URL to `open` (print it, open a
/// browser), captures the redirect of that login (same `state`) and
/// completes the login.
pub async fn login_via_loopback<P: Payload>(
    manager: &TokenManager<P>,
    listener: LoopbackListener,
    timeout: Duration,
    open: impl FnOnce(&str),
) -> Result<Credentials<P>, Error> {
    let request = manager.begin_authorization().await?;
    open(&request.url);
    let redirect = listener.capture_login(&request.url, timeout).await?;
    manager.complete_authorization(&redirect).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    async fn listener() -> (LoopbackListener, SocketAddr) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let uri = format!("http://127.0.0.1:{}/broker/callback", addr.port());
        (LoopbackListener::from_listener(tcp, &uri).unwrap(), addr)
    }

    async fn get(addr: SocketAddr, target: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    const LOGIN: &str = "https://broker.invalid/login?client_id=c&state=St4te-Qx7Lm2";

    #[tokio::test]
    async fn captures_the_redirect_and_says_close_the_tab() {
        let (l, addr) = listener().await;
        let task = tokio::spawn(l.capture_login(LOGIN, Duration::from_secs(5)));
        let other = get(addr, "/favicon.ico").await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let page = get(
            addr,
            "/broker/callback?s=ok&code=200&auth_code=a.b.c&state=St4te-Qx7Lm2",
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("You can close this tab"));
        let url = task.await.unwrap().unwrap();
        assert_eq!(
            url.expose_secret(),
            &format!(
                "http://127.0.0.1:{}/broker/callback?s=ok&code=200&auth_code=a.b.c&state=St4te-Qx7Lm2",
                addr.port()
            )
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_state_is_ignored_and_the_right_one_still_captured() {
        let (l, addr) = listener().await;
        let task = tokio::spawn(l.capture_login(LOGIN, Duration::from_secs(5)));
        for forged in [
            "/broker/callback?auth_code=F0rged-Kq&state=another-login",
            "/broker/callback?auth_code=F0rged-Kq",
        ] {
            let page = get(addr, forged).await;
            assert!(page.starts_with("HTTP/1.1 400"), "{page}");
            assert!(page.contains("does not belong to the login in progress"));
            assert!(
                !task.is_finished(),
                "a forged redirect must not end the capture"
            );
        }
        let page = get(
            addr,
            "/broker/callback?auth_code=Real-Wz&state=St4te-Qx7Lm2",
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        let url = task.await.unwrap().unwrap();
        assert!(url.expose_secret().contains("auth_code=Real-Wz"));
    }

    #[tokio::test]
    async fn a_silent_local_client_does_not_block_the_browser() {
        let (l, addr) = listener().await;
        // A long head timeout: only concurrency can let the browser through.
        let l = l.with_head_timeout(Duration::from_secs(30));
        let task = tokio::spawn(l.capture_login(LOGIN, Duration::from_secs(10)));
        let mut silent = Vec::new();
        for _ in 0..5 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /broker/callback?state=St4te")
                .await
                .unwrap();
            silent.push(s);
        }
        let started = std::time::Instant::now();
        let page = tokio::time::timeout(
            Duration::from_secs(2),
            get(addr, "/broker/callback?auth_code=x&state=St4te-Qx7Lm2"),
        )
        .await
        .expect("the browser was served while silent clients hold connections");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(task.await.unwrap().is_ok());
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(silent);
    }

    #[tokio::test]
    async fn a_silent_client_is_cut_off_after_the_head_timeout() {
        let (l, addr) = listener().await;
        let l = l.with_head_timeout(Duration::from_millis(100));
        let task = tokio::spawn(l.capture(Duration::from_secs(10)));
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the listener closed the silent connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
        task.abort();
    }

    #[tokio::test]
    async fn times_out_cleanly_when_no_browser_comes() {
        let (l, _) = listener().await;
        let err = l.capture(Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, ListenerError::Timeout(_)));
        assert!(matches!(Error::from(err), Error::Transient { .. }));
    }

    #[tokio::test]
    async fn garbage_requests_do_not_end_the_capture() {
        let (l, addr) = listener().await;
        let task = tokio::spawn(l.capture(Duration::from_secs(5)));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
        drop(s);
        let _ = get(addr, "/broker/callback?auth_code=x&state=y").await;
        assert!(task.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn refuses_non_loopback_redirect_uris() {
        for bad in [
            "https://127.0.0.1/cb",
            "http://example.com/cb",
            "http://10.0.0.1/cb",
        ] {
            assert!(
                matches!(
                    LoopbackListener::bind(bad).await,
                    Err(ListenerError::NotLoopback)
                ),
                "{bad}"
            );
        }
    }
}
