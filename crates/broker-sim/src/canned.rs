//! A loopback HTTP server that answers every request with whatever you set:
//! any status, content type and bytes. For hostile-response tests and fuzz
//! targets ("what does the adapter do when the broker says *this*?").
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use broker_sim::canned::{CannedAnswer, CannedServer};
//! let server = CannedServer::start().await?;
//! server.set(CannedAnswer::new(503, "text/html", b"<html>down</html>".to_vec()));
//! // point an adapter's base URL at server.base_url() ...
//! # let _ = server.base_url(); Ok(()) }
//! ```

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server answers next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedAnswer {
    /// HTTP status code (any number, even invalid ones).
    pub status: u16,
    /// The `content-type` header.
    pub content_type: String,
    /// The body, sent as is.
    pub body: Vec<u8>,
}

impl CannedAnswer {
    /// An answer.
    pub fn new(status: u16, content_type: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body,
        }
    }
}

/// The server; stops when dropped.
#[derive(Debug)]
pub struct CannedServer {
    base_url: String,
    answer: Arc<Mutex<CannedAnswer>>,
    task: JoinHandle<()>,
}

impl CannedServer {
    /// Binds 127.0.0.1 on a free port; answers `200 {}` until told otherwise.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let answer = Arc::new(Mutex::new(CannedAnswer::new(
            200,
            "application/json",
            b"{}".to_vec(),
        )));
        let shared = answer.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let a = crate::lock(&shared).clone();
                tokio::spawn(answer_one(sock, a));
            }
        });
        Ok(Self {
            base_url,
            answer,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Answers every following request with `answer`.
    pub fn set(&self, answer: CannedAnswer) {
        *crate::lock(&self.answer) = answer;
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the request (head and any `content-length` body, best effort),
/// writes the answer, closes the connection.
async fn answer_one(mut sock: tokio::net::TcpStream, a: CannedAnswer) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        a.status,
        a.content_type,
        a.body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&a.body).await;
    let _ = sock.shutdown().await;
}
