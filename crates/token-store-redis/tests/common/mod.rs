//! Real `redis-server` processes for the tests: each test starts its own on
//! a free loopback port in a temporary directory, so tests are isolated and
//! a test may stop and restart its server.
//!
//! The binary is `$REDIS_SERVER_BIN`, else `redis-server` on `PATH`, else
//! `/usr/bin/redis-server` / `/usr/sbin/redis-server`. Without one, a test
//! prints "redis-server not installed: skipping <test>" and returns, except
//! under CI (`CI` set to anything but empty, `0` or `false`), where it fails:
//! a CI run must never pass by skipping. A `REDIS_SERVER_BIN` that names no
//! file is a misconfiguration and fails everywhere.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use token_store_redis::{RedisStore, RedisStoreBuilder};

/// Where the binary is looked for when neither `REDIS_SERVER_BIN` nor
/// `PATH` has it.
const FALLBACKS: [&str; 2] = ["/usr/bin/redis-server", "/usr/sbin/redis-server"];

/// Whether the `CI` variable says this is a CI run.
pub fn is_ci(ci: Option<&OsStr>) -> bool {
    ci.and_then(OsStr::to_str).is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// Finds the binary from the given `REDIS_SERVER_BIN`, `PATH` and fallback
/// locations. `Err` when `REDIS_SERVER_BIN` is set but names no file.
pub fn locate(
    explicit: Option<OsString>,
    path: Option<OsString>,
    fallbacks: &[&str],
) -> Result<Option<PathBuf>, String> {
    if let Some(bin) = explicit.filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(Some(bin))
        } else {
            Err(format!(
                "REDIS_SERVER_BIN={} is not a file: point it at redis-server or unset it",
                bin.display()
            ))
        };
    }
    let on_path = path.and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    Ok(on_path.or_else(|| fallbacks.iter().map(PathBuf::from).find(|p| p.is_file())))
}

/// What a test does about its server.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start this binary.
    Run(PathBuf),
    /// Say so and pass (not CI, nothing installed).
    Skip(String),
    /// Fail the test with this message.
    Fail(String),
}

/// The decision for `test` given what [`locate`] found and whether this is CI.
pub fn decide(test: &str, found: Result<Option<PathBuf>, String>, ci: bool) -> Decision {
    match found {
        Ok(Some(bin)) => Decision::Run(bin),
        Err(misconfigured) => Decision::Fail(format!("{test}: {misconfigured}")),
        Ok(None) if ci => Decision::Fail(format!(
            "redis-server not installed (CI is set, so this fails instead of skipping): \
             {test} needs it; .ci/services.d/redis.sh installs it and exports REDIS_SERVER_BIN \
             (or: apt-get install redis-server)"
        )),
        Ok(None) => Decision::Skip(format!(
            "redis-server not installed: skipping {test} (install redis-server or set REDIS_SERVER_BIN)"
        )),
    }
}

/// Where the redis-server binary is, if anywhere (this process's environment).
pub fn server_binary() -> Result<Option<PathBuf>, String> {
    locate(
        std::env::var_os("REDIS_SERVER_BIN"),
        std::env::var_os("PATH"),
        &FALLBACKS,
    )
}

/// Extra server options (beyond port, bind and directory).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Append-only file with fsync on every write: survives a kill.
    pub persistent: bool,
    /// Extra `--flag value` arguments (e.g. `--requirepass`).
    pub args: Vec<String>,
}

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    bin: PathBuf,
    pub port: u16,
    dir: tempfile::TempDir,
    options: Options,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server, or returns `None` (after saying so on stderr) when
    /// no binary exists outside CI. Panics under CI without a binary, and
    /// for a `REDIS_SERVER_BIN` that names no file.
    pub fn start_or_skip(test: &str, options: Options) -> Option<Self> {
        let ci = is_ci(std::env::var_os("CI").as_deref());
        let bin = match decide(test, server_binary(), ci) {
            Decision::Run(bin) => bin,
            Decision::Fail(message) => panic!("{message}"),
            Decision::Skip(notice) => {
                // Straight to the process's stderr: the test harness captures
                // `eprintln!` of passing tests, and this must be seen.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "{notice}");
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        let mut server = Self {
            bin,
            port: 0,
            dir,
            options,
            child: None,
        };
        // A free port can be taken by someone else between probe and bind:
        // try a few.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no")
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"));
        if self.options.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(&self.options.args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: port taken, or bad options
            }
            if ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A store builder for this server with a unique-enough prefix.
    pub fn builder(&self) -> RedisStoreBuilder {
        RedisStore::builder(self.url())
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .timeouts(Duration::from_secs(2), Duration::from_millis(500))
    }

    pub async fn store(&self) -> RedisStore {
        self.builder()
            .connect()
            .await
            .expect("connect to test redis")
    }

    /// Kills the server (SIGKILL, as in a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (the
    /// append-only file, if any, is replayed).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// Runs a command with `redis-cli`-like raw RESP over TCP (no auth) and
    /// returns the raw reply, for test assertions.
    pub fn raw(&self, args: &[&str]) -> String {
        raw_command(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

fn ping(port: u16) -> bool {
    let reply = try_raw(port, &["PING"]);
    // `-NOAUTH` also proves the server is up.
    reply.is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
}

fn try_raw(port: u16, args: &[&str]) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

pub fn raw_command(port: u16, args: &[&str]) -> String {
    try_raw(port, args).expect("raw redis command")
}

/// Polls `cond` every few ms for up to `within` (real time).
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}
