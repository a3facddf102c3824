//! Child-process helpers shared by the `tokenctl` binary tests: a child's
//! output as a channel of lines, and waiting (bounded) for a line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
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

/// The address in a daemon's `listening on http://ADDR` line, the last of
/// `log`.
pub fn listen_addr(log: &[String]) -> String {
    let line = log.last().map_or("", String::as_str);
    let rest = line.split("listening on http://").nth(1).unwrap_or("");
    rest.split_whitespace().next().unwrap_or("").to_string()
}
