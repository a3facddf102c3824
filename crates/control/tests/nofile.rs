//! `raise_nofile_limit` (its own test binary: the limit is process-wide).
#![cfg(unix)]

use rustix::process::{getrlimit, setrlimit, Resource};

#[test]
fn raises_the_soft_open_file_limit_to_the_hard_limit() {
    let mut l = getrlimit(Resource::Nofile);
    let hard = l.maximum;
    // Start from a low soft limit, as under the common 1,024 default.
    let low = hard.map_or(256, |h| h.min(256));
    l.current = Some(low);
    setrlimit(Resource::Nofile, l).unwrap();
    assert_eq!(control::nofile_limit().unwrap().soft, Some(low));

    let raised = control::raise_nofile_limit().unwrap().unwrap();
    assert_eq!(raised.soft, hard, "soft raised to hard");
    assert_eq!(raised.hard, hard);
    assert_eq!(control::nofile_limit().unwrap(), raised);
    // Idempotent.
    assert_eq!(control::raise_nofile_limit().unwrap().unwrap(), raised);
}
