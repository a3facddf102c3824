//! A terminal prompt: print the URL, read one line.

use async_trait::async_trait;
use secrecy::SecretString;
use token_core::AccountKey;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

use super::{ReauthChannel, ReauthError, ReauthPrompt};

/// Asks on a terminal (or any line-based reader/writer pair).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use control::reauth::{ConsoleChannel, ReauthChannel};
/// let input: &[u8] = b"H92GX\n";
/// let console = ConsoleChannel::new(input, Vec::new());
/// # let _ = console; }
/// ```
pub struct ConsoleChannel<R, W> {
    io: Mutex<(R, W)>,
}

impl<R, W> std::fmt::Debug for ConsoleChannel<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleChannel")
    }
}

impl ConsoleChannel<BufReader<tokio::io::Stdin>, tokio::io::Stdout> {
    /// Standard input and output.
    pub fn stdio() -> Self {
        Self::new(BufReader::new(tokio::io::stdin()), tokio::io::stdout())
    }
}

impl<R, W> ConsoleChannel<R, W>
where
    R: AsyncBufRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    /// Reads answers from `reader`, writes prompts to `writer`.
    pub fn new(reader: R, writer: W) -> Self {
        Self {
            io: Mutex::new((reader, writer)),
        }
    }

    /// Gives back the reader and writer (e.g. to inspect what was written).
    pub fn into_inner(self) -> (R, W) {
        self.io.into_inner()
    }
}

fn io_err(e: std::io::Error) -> ReauthError {
    ReauthError::Channel(e.to_string())
}

#[async_trait]
impl<R, W> ReauthChannel for ConsoleChannel<R, W>
where
    R: AsyncBufRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    async fn ask(&self, prompt: &ReauthPrompt) -> Result<SecretString, ReauthError> {
        let mut io = self.io.lock().await;
        let (reader, writer) = &mut *io;
        writer
            .write_all(format!("{}\n> ", prompt.text()).as_bytes())
            .await
            .map_err(io_err)?;
        writer.flush().await.map_err(io_err)?;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.map_err(io_err)? == 0 {
                return Err(ReauthError::Channel("input closed".into()));
            }
            let answer = line.trim();
            if !answer.is_empty() {
                return Ok(SecretString::from(answer.to_string()));
            }
        }
    }

    async fn tell(&self, _account: &AccountKey, message: &str) -> Result<(), ReauthError> {
        let mut io = self.io.lock().await;
        io.1.write_all(format!("{message}\n").as_bytes())
            .await
            .map_err(io_err)?;
        io.1.flush().await.map_err(io_err)
    }
}
