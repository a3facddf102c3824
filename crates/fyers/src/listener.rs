//! A loopback listener that captures the FYERS login redirect.
//!
//! Register a redirect URI such as `http://127.0.0.1:8080/fyers/callback`
//! for your app; [`LoopbackListener::bind`] listens on `127.0.0.1:8080`, and
//! [`LoopbackListener::capture`] waits for the browser to land there, answers
//! with a short "you can close this tab" page and returns the full redirect
//! URL (which holds the auth code, hence a secret). [`login_via_loopback`]
//! does the whole login with a [`TokenManager`].

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use token_core::{Credentials, Error, TokenManager};

use crate::config::is_loopback;
use crate::provider::FyersCreds;

/// The page the browser shows after the redirect.
const DONE_PAGE: &str =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>FYERS login</title></head>\
<body><h1>Login received</h1><p>You can close this tab.</p></body></html>";

/// Largest request head we read.
const MAX_HEAD: usize = 16 * 1024;

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
}

fn loopback_redirect(redirect_uri: &str) -> Result<Url, ListenerError> {
    let url = Url::parse(redirect_uri).map_err(|e| ListenerError::BadRedirectUri(e.to_string()))?;
    if url.scheme() != "http" || !is_loopback(&url) {
        return Err(ListenerError::NotLoopback);
    }
    Ok(url)
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
        Ok(Self { listener, redirect })
    }

    /// Uses a socket you bound yourself (e.g. on port 0 in tests).
    pub fn from_listener(listener: TcpListener, redirect_uri: &str) -> Result<Self, ListenerError> {
        Ok(Self {
            listener,
            redirect: loopback_redirect(redirect_uri)?,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Result<SocketAddr, ListenerError> {
        self.listener.local_addr().map_err(ListenerError::Io)
    }

    /// Waits up to `timeout` for a request to the redirect path, answers it
    /// with a "you can close this tab" page and returns the full redirect URL.
    /// Requests to other paths (a browser's `/favicon.ico`) get a 404.
    pub async fn capture(self, timeout: Duration) -> Result<SecretString, ListenerError> {
        tokio::time::timeout(timeout, self.accept_loop())
            .await
            .map_err(|_| ListenerError::Timeout(timeout))?
    }

    async fn accept_loop(&self) -> Result<SecretString, ListenerError> {
        loop {
            let (stream, _) = self.listener.accept().await.map_err(ListenerError::Io)?;
            if let Some(url) = self.serve_one(stream).await {
                return Ok(url);
            }
        }
    }

    /// Answers one connection; `Some` when it was the redirect.
    async fn serve_one(&self, mut stream: TcpStream) -> Option<SecretString> {
        let head = read_head(&mut stream).await?;
        let target = request_target(&head);
        let url = target.and_then(|t| self.redirect.join(t).ok());
        let hit = url
            .as_ref()
            .is_some_and(|u| u.path() == self.redirect.path());
        let response = if hit {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n{DONE_PAGE}",
                DONE_PAGE.len()
            )
        } else {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
        };
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if hit {
            url.map(|u| SecretString::from(u.to_string()))
        } else {
            None
        }
    }
}

/// Reads up to the end of the request head (or gives up on garbage).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
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
/// browser), captures the redirect and completes the login.
pub async fn login_via_loopback(
    manager: &TokenManager<FyersCreds>,
    listener: LoopbackListener,
    timeout: Duration,
    open: impl FnOnce(&str),
) -> Result<Credentials<FyersCreds>, Error> {
    let request = manager.begin_authorization().await?;
    open(&request.url);
    let redirect = listener.capture(timeout).await?;
    manager.complete_authorization(&redirect).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    async fn listener() -> (LoopbackListener, SocketAddr) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let uri = format!("http://127.0.0.1:{}/fyers/callback", addr.port());
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

    #[tokio::test]
    async fn captures_the_redirect_and_says_close_the_tab() {
        let (l, addr) = listener().await;
        let task = tokio::spawn(l.capture(Duration::from_secs(5)));
        let other = get(addr, "/favicon.ico").await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let page = get(
            addr,
            "/fyers/callback?s=ok&code=200&auth_code=a.b.c&state=st",
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("You can close this tab"));
        let url = task.await.unwrap().unwrap();
        assert_eq!(
            url.expose_secret(),
            &format!(
                "http://127.0.0.1:{}/fyers/callback?s=ok&code=200&auth_code=a.b.c&state=st",
                addr.port()
            )
        );
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
        let _ = get(addr, "/fyers/callback?auth_code=x&state=y").await;
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
