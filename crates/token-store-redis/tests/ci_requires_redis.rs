//! Issue 14, item 14: without `redis-server`, the Redis tests skip with a
//! notice on a developer's machine, but under CI they fail: a CI run must
//! never go green by skipping 17 tests.

mod common;

use std::ffi::OsStr;

use common::{decide, is_ci, locate, Decision};

#[test]
fn a_missing_redis_server_fails_under_ci_instead_of_skipping() {
    match decide("some_redis_test", Ok(None), true) {
        Decision::Fail(message) => {
            assert!(message.contains("redis-server not installed"), "{message}");
            assert!(message.contains("some_redis_test"), "{message}");
            assert!(
                message.contains(".ci/services.d/redis.sh"),
                "the message says how to fix it: {message}"
            );
        }
        other => panic!("under CI a missing redis-server must fail, got {other:?}"),
    }
    assert!(
        matches!(decide("t", Ok(None), false), Decision::Skip(ref n) if n.contains("skipping t")),
        "outside CI it skips with a notice"
    );
}

#[test]
fn a_redis_server_bin_naming_no_file_fails_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-redis-server");
    let found = locate(Some(missing.clone().into_os_string()), None, &[]);
    let message = found
        .clone()
        .expect_err("a wrong REDIS_SERVER_BIN is an error");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    for ci in [false, true] {
        assert!(
            matches!(decide("t", found.clone(), ci), Decision::Fail(_)),
            "ci={ci}"
        );
    }
}

#[test]
fn the_binary_is_found_on_path_then_in_the_fallbacks() {
    let empty = tempfile::tempdir().expect("temp dir");
    let with_bin = tempfile::tempdir().expect("temp dir");
    let bin = with_bin.path().join("redis-server");
    std::fs::write(&bin, "#!/bin/sh\n").expect("fake binary");
    let path = std::env::join_paths([empty.path(), with_bin.path()]).expect("PATH");
    assert_eq!(locate(None, Some(path), &[]), Ok(Some(bin.clone())));
    let nowhere = Some(empty.path().as_os_str().to_owned());
    assert_eq!(locate(None, nowhere.clone(), &[]), Ok(None));
    let fallback = bin.to_str().expect("UTF-8 temp path");
    assert_eq!(locate(None, nowhere, &[fallback]), Ok(Some(bin.clone())));
    // An empty REDIS_SERVER_BIN means "not set".
    assert_eq!(
        locate(Some("".into()), None, &[fallback]),
        Ok(Some(bin.clone()))
    );
    assert_eq!(decide("t", Ok(Some(bin.clone())), true), Decision::Run(bin));
}

#[test]
fn ci_means_a_ci_variable_that_is_not_empty_0_or_false() {
    for yes in ["true", "1", "yes", "TRUE", "github"] {
        assert!(is_ci(Some(OsStr::new(yes))), "{yes}");
    }
    for no in ["", "0", "false", "False", " "] {
        assert!(!is_ci(Some(OsStr::new(no))), "{no:?}");
    }
    assert!(!is_ci(None));
}
