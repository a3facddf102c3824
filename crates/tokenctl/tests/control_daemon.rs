//! `tokenctl run` and its control server (issue 14, items 2 and 5): the
//! `[control] listen` setting works without `--listen`, a non-loopback
//! address needs `allow_remote`, and SIGTERM ends the daemon within seconds
//! even while hostile clients hold half-sent requests. Loopback only.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const CONTROL_TOKEN: &str = "ctl-e4b19c7a02f5d83e6b0a9c14f7d2e58b3a6c0d91";

/// One E*TRADE account whose broker URL is a closed loopback port (nothing
/// here needs the broker), and a `[control]` table.
fn config(dir: &Path, control: &str) -> PathBuf {
    let path = dir.join("tokenctl.toml");
    let body = format!(
        "store = \"tokens\"\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\n\
         consumer_key = \"k\"\nconsumer_secret = {{ env = \"TOKENCTL_T14_SECRET\" }}\nbase_url = \"http://127.0.0.1:9\"\n\n\
         [control]\ntoken = {{ env = \"TOKENCTL_T14_CONTROL\" }}\n{control}"
    );
    std::fs::write(&path, body).unwrap();
    path
}

fn tokenctl(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TOKENCTL_CONFIG")
        .env_remove("RUST_LOG")
        .env("TOKENCTL_T14_SECRET", "Etr4de-Zq9vKx-secret")
        .env("TOKENCTL_T14_CONTROL", CONTROL_TOKEN);
    c
}

/// Starts `tokenctl run` and returns it with the address it serves on.
fn start(config: &Path, args: &[&str]) -> (Child, String, mpsc::Receiver<String>) {
    let (child, addr, rx, _) = common::start_daemon(&mut tokenctl(config, args));
    (child, addr, rx)
}

fn get_health(addr: &str) -> String {
    get(addr, "/health")
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {CONTROL_TOKEN}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
    out
}

/// Waits for the child up to `limit`; kills it and fails if it is still running.
fn wait_at_most(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the daemon did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_serves_on_the_configured_listen_address_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "listen = \"127.0.0.1:0\"\n");
    let (mut child, addr, _log) = start(&cfg, &["run"]);
    let answer = get_health(&addr);
    // Nobody logged in: critical, 503, but served.
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"critical\""), "{answer}");
    // The page's timeline names the exchange's zone (E*TRADE: New York).
    let events = get(&addr, "/events");
    assert!(events.starts_with("HTTP/1.1 200"), "{events}");
    assert!(
        events.contains(r#""account":"etrade/sandbox/main","zone":"America/New_York""#),
        "{events}"
    );
    let page = get(&addr, "/");
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("Control token"),
        "{page}"
    );
    common::sigterm(&child);
    let (status, _) = wait_at_most(&mut child, Duration::from_secs(10));
    assert!(status.success());
}

#[test]
fn sigterm_ends_the_daemon_within_seconds_while_hostile_clients_hold_half_sent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "listen = \"127.0.0.1:0\"\n");
    let (mut child, addr, log) = start(&cfg, &["run"]);
    let mut hostile = Vec::new();
    for i in 0..10 {
        let mut s = TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /refresh HTTP/1.1\r\nHost: x\r\nAuthoriz")
                .unwrap();
        }
        hostile.push(s);
    }
    // Served while they hang on: the hostile sockets are accepted and held.
    assert!(get_health(&addr).starts_with("HTTP/1.1 503"));
    common::sigterm(&child);
    let (status, took) = wait_at_most(&mut child, Duration::from_secs(15));
    println!("tokenctl run exited {took:?} after SIGTERM with 10 hostile clients");
    let log: Vec<String> = log.try_iter().collect();
    assert!(status.success(), "{}", log.join("\n"));
    assert!(
        took < control::DEFAULT_SHUTDOWN_GRACE + Duration::from_secs(4),
        "{took:?}"
    );
    drop(hostile);
}

#[test]
fn a_non_loopback_listen_address_is_refused_with_the_reason_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let o = tokenctl(&cfg, &["run", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("plain HTTP"), "{err}");
    assert!(err.contains("allow_remote = true"), "{err}");
    assert!(!err.contains(CONTROL_TOKEN), "{err}");
}
