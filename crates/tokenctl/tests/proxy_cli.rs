//! `tokenctl run` with `[proxy] unix_socket`: the socket is created 0600,
//! needs no bearer token, is removed at shutdown, and an account nobody logged in yet gets the 503
//! naming the login, without the broker being contacted.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn unix_socket_proxy_is_private_and_answers_503_before_any_login() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = dir.path().join("consumer_secret");
    std::fs::write(&secret, "S3cr3t-Qw7Zp-consumer").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("tokenctl.toml");
    // Port 9 on loopback: nothing answers there, and nothing must be asked.
    std::fs::write(
        &config,
        "[proxy]\nunix_socket = \"proxy.sock\"\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\nconsumer_key = \"k\"\nconsumer_secret = { file = \"consumer_secret\" }\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenctl"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines(child.stderr.take().unwrap());
    common::until(&rx, "proxy listening on unix socket", &mut child);
    let socket = dir.path().join("proxy.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(
            b"GET /main/v1/accounts/list.json HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"no_usable_token\""), "{answer}");
    assert!(answer.contains("\"action\":\"login\""), "{answer}");
    assert!(status.success());
    assert!(!socket.exists(), "the socket is removed at shutdown");
}

#[test]
fn a_non_loopback_proxy_address_is_refused_with_the_reason_unless_allowed() {
    const BEARER: &str = "Px7Zq-S3cr3t-4b1e9c07d2a6f358-remote-bearer";
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    for (name, text) in [
        ("consumer_secret", "S3cr3t-Qw7Zp-consumer"),
        ("proxy-token", BEARER),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(
        &config,
        "[proxy]\ntoken = { file = \"proxy-token\" }\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\nconsumer_key = \"k\"\nconsumer_secret = { file = \"consumer_secret\" }\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tokenctl"))
        .arg("--config")
        .arg(&config)
        .args(["run", "--proxy", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("allow_remote = true"), "{err}");
    assert!(!err.contains(BEARER), "{err}");
    assert!(!err.contains("S3cr3t-Qw7Zp-consumer"), "{err}");
}
