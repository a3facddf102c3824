//! A clock CI can move (cargo feature `test-clock`, never in a release
//! build): with `TOKENCTL_TEST_CLOCK=PATH`, `tokenctl` reads the time from
//! an RFC 3339 instant in PATH, running on from when it was last written.
//! The Python example bot's CI run moves it together with broker-sim's
//! clock to reach midnight New York in seconds.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use token_core::{Clock, SystemClock};

/// The environment variable naming the clock file.
pub const TEST_CLOCK_ENV: &str = "TOKENCTL_TEST_CLOCK";

/// How often a wait looks at the file again (a jump is noticed this fast).
const RECHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// The clock `tokenctl` runs on: the file clock when [`TEST_CLOCK_ENV`]
/// names one, else the system clock.
pub fn from_env() -> Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_ENV) {
        Some(path) => Arc::new(FileClock {
            path: PathBuf::from(path),
            last: Mutex::new(None),
        }),
        None => Arc::new(SystemClock),
    }
}

/// Time read from a file; see the module docs.
#[derive(Debug)]
pub struct FileClock {
    path: PathBuf,
    /// (file mtime, instant in it, when it was read).
    last: Mutex<Option<(SystemTime, DateTime<Utc>, Instant)>>,
}

impl FileClock {
    fn read(&self) -> Option<(SystemTime, DateTime<Utc>, Instant)> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = *last {
            if l.0 == mtime {
                return Some(l);
            }
        }
        let text = std::fs::read_to_string(&self.path).ok()?;
        let at = DateTime::parse_from_rfc3339(text.trim())
            .ok()?
            .with_timezone(&Utc);
        *last = Some((mtime, at, Instant::now()));
        *last
    }
}

#[async_trait]
impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        match self.read() {
            Some((_, at, read)) => {
                at + chrono::Duration::from_std(read.elapsed()).unwrap_or_default()
            }
            None => {
                tracing::warn!(path = %self.path.display(), "{TEST_CLOCK_ENV}: unreadable; using the system clock");
                Utc::now()
            }
        }
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        while self.now() < deadline {
            tokio::time::sleep(RECHECK).await;
        }
    }
}
