//! FYERS answers: the adapter's response parsing, end to end. A loopback
//! server answers each call with the fuzz input (first byte: status, second:
//! content type, rest: body); refresh, profile, logout and the auth-code
//! exchange must return a typed outcome, never panic, never leak a secret.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use fyers::{FyersConfig, FyersCreds, FyersProvider};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use token_core::{AccountKey, Environment, ManualClock, Metadata, Record, TokenProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET_KEY: &str = "SECRETKEY-fuzz";
const PIN: &str = "9876";
const ACCESS: &str = "ACCESS-fuzz-token";
const REFRESH: &str = "REFRESH-fuzz-token";

struct Rig {
    rt: tokio::runtime::Runtime,
    answer: Arc<Mutex<Vec<u8>>>,
    provider: FyersProvider,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let answer = Arc::new(Mutex::new(Vec::new()));
        let shared = answer.clone();
        let base = rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let raw = shared.lock().expect("answer").clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 8192];
                        let _ = sock.read(&mut buf).await;
                        let (status, ct, body) = match raw.as_slice() {
                            [s, c, body @ ..] => (
                                [200u16, 400, 401, 403, 429, 500, 503][*s as usize % 7],
                                ["application/json", "text/html", "text/plain"][*c as usize % 3],
                                body.to_vec(),
                            ),
                            _ => (200, "application/json", raw.clone()),
                        };
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = sock.write_all(head.as_bytes()).await;
                        let _ = sock.write_all(&body).await;
                    });
                }
            });
            base
        });
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
        let config = FyersConfig::new(
            token_core::Environment::Production,
            "ABCD1234-100",
            SecretString::from(SECRET_KEY),
            SecretString::from(PIN),
            "http://127.0.0.1:9/callback",
        )
        .with_base_url(&format!("{base}/api/v3"))
        .expect("a loopback base URL")
        .with_request_timeout(Duration::from_secs(2));
        let provider = FyersProvider::new(config, Arc::new(clock)).expect("provider");
        Rig { rt, answer, provider }
    })
}

fn check(e: &token_core::Error) {
    let text = format!("{e} {e:?}");
    for secret in [SECRET_KEY, PIN, ACCESS, REFRESH] {
        assert!(!text.contains(secret), "secret in error: {text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let rig = rig();
    *rig.answer.lock().expect("answer") = data.to_vec();
    let record = Record::new(
        AccountKey::new("fyers", Environment::Production, "main").expect("key"),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap()),
        FyersCreds {
            access_token: SecretString::from(ACCESS),
            refresh_token: Some(SecretString::from(REFRESH)),
        },
    );
    rig.rt.block_on(async {
        if let Err(e) = rig.provider.renew(&record).await {
            check(&e);
        }
        if let Err(e) = rig.provider.probe(&record).await {
            check(&e);
        }
        if let Err(e) = rig.provider.revoke(&record).await {
            check(&e);
        }
    });
});
