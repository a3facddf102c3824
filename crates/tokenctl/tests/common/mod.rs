//! Child-process helpers shared by the `tokenctl` binary tests: a child's
//! output as a channel of lines, and waiting (bounded) for a line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for a line a child must print.
pub const LINE_WAIT: Duration = Duration::from_secs(20);

/// Lines of a child's pipe, as they come, from a thread that ends with the
/// pipe (or when the receiver is dropped).
pub fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `rx` until a line contains `marker` ([`LINE_WAIT`] at most);
/// returns every line read, that one last. On timeout kills `child` and
/// fails the test with what was read.
pub fn until(rx: &mpsc::Receiver<String>, marker: &str, child: &mut Child) -> Vec<String> {
    let deadline = Instant::now() + LINE_WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(marker) => {
                seen.push(l);
                return seen;
            }
            Ok(l) => seen.push(l),
            Err(e) => {
                let _ = child.kill();
                panic!("no line with {marker:?} ({e}); got:\n{}", seen.join("\n"));
            }
        }
    }
}

/// Unless `log` already holds a line containing `marker`, reads `rx` until
/// one does (as [`until`]), adding what it read to `log`.
pub fn until_in(
    log: &mut Vec<String>,
    rx: &mpsc::Receiver<String>,
    marker: &str,
    child: &mut Child,
) {
    if !log.iter().any(|l| l.contains(marker)) {
        log.extend(until(rx, marker, child));
    }
}

/// The address in a daemon's `listening on http://ADDR` line, the last of
/// `log`.
pub fn listen_addr(log: &[String]) -> String {
    let line = log.last().map_or("", String::as_str);
    let rest = line.split("listening on http://").nth(1).unwrap_or("");
    rest.split_whitespace().next().unwrap_or("").to_string()
}

/// Spawns `cmd` (a `tokenctl run`) with stdout discarded and stderr read as
/// lines; waits for its `listening on http://ADDR` line. Returns the child,
/// ADDR, the rest of stderr and the lines read so far.
pub fn start_daemon(cmd: &mut Command) -> (Child, String, mpsc::Receiver<String>, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(child.stderr.take().unwrap());
    let log = until(&rx, "listening on http://", &mut child);
    let addr = listen_addr(&log);
    (child, addr, rx, log)
}

/// Sends SIGTERM to `child`, failing the test if the signal cannot be sent.
pub fn sigterm(child: &Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Stops a daemon with SIGTERM and waits for it; returns its whole stderr
/// (`log` then the rest of `rx`), failing the test unless it exited 0.
pub fn stop_daemon(mut child: Child, rx: mpsc::Receiver<String>, mut log: Vec<String>) -> String {
    sigterm(&child);
    let status = child.wait().unwrap();
    log.extend(rx.iter());
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    log
}

/// Waits ([`LINE_WAIT`] at most) until the file at `path` holds `n` lines;
/// returns them.
pub async fn lines_in(path: &std::path::Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + LINE_WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {lines:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the query parameter `name` in `url`; fails the test when
/// the URL does not parse or has no such parameter.
pub fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url} is not a URL: {e}"))
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

/// Writes `text` to `path`, readable by its owner only (as secret files
/// must be).
pub fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

/// Fails the test unless `answers` holds at least one answer and none of
/// them contains any of `secrets`.
pub fn assert_no_secret_in(answers: &[String], secrets: &[String]) {
    assert!(!answers.is_empty());
    for answer in answers {
        for s in secrets {
            assert!(
                !answer.contains(s.as_str()),
                "a secret leaked in:\n{answer}"
            );
        }
    }
}

/// Logs the FYERS account `acct` in through the simulator, as `tokenctl
/// login` would; returns the access token it saved.
pub async fn fyers_log_in(
    acct: &tokenctl::accounts::Account,
    running: &broker_sim::RunningSim,
) -> String {
    use secrecy::ExposeSecret;
    use token_core::TokenStore;
    let c = running.credentials();
    let m = acct.managed();
    let request = m.begin_authorization().await.unwrap();
    let state = query_param(&request.url, "state");
    let redirect = running
        .sim
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
        .unwrap();
    m.complete_authorization(&secrecy::SecretString::from(redirect))
        .await
        .unwrap();
    let rec = acct.store().unwrap().load(m.key()).await.unwrap().unwrap();
    rec.payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned()
}
