//! The process's open-file limit (`RLIMIT_NOFILE`).
//!
//! Every socket the control server holds is a file descriptor, and so is
//! every lock, temp file and broker connection the token work opens. The
//! common default soft limit (1,024) is easy to exhaust with idle
//! connections, so a daemon raises its soft limit to the hard limit at start
//! ([`raise_nofile_limit`]) and the server caps its connections well below
//! what is left ([`crate::ServeLimits::max_connections`]).

/// The soft and hard open-file limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The limit in force.
    pub soft: Option<u64>,
    /// The ceiling an unprivileged process may raise `soft` to.
    pub hard: Option<u64>,
}

/// The current open-file limits, or `None` where the platform has none
/// we can read.
pub fn nofile_limit() -> Option<NofileLimit> {
    #[cfg(unix)]
    {
        let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        Some(NofileLimit {
            soft: l.current,
            hard: l.maximum,
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft open-file limit to the hard limit and returns the limits
/// now in force. Call it once at start, before serving. A platform without
/// the limit returns `Ok(None)`; a refusal by the OS is an error you can log
/// and carry on from (the server still caps its connections).
pub fn raise_nofile_limit() -> std::io::Result<Option<NofileLimit>> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let now = getrlimit(Resource::Nofile);
        if now.current != now.maximum {
            let mut raised = now;
            raised.current = now.maximum;
            setrlimit(Resource::Nofile, raised).map_err(std::io::Error::from)?;
        }
        Ok(nofile_limit())
    }
    #[cfg(not(unix))]
    {
        Ok(None)
    }
}
