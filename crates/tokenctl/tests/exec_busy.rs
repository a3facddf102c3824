//! `tokenctl exec` notices a token another process saved within its poll,
//! even while its own manager is stuck renewing: here the manager waits for
//! the store's lease (held by "another process", as during that process's
//! renewal), holding its renewal lock. Before the fix the poll waited on
//! that lock, so the restart came only after the lease wait (minutes).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig};
use chrono::{TimeZone, Utc};
use common::{fyers_log_in, lines_in};
use token_core::{Clock, ManualClock, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::cli::{exec, ExecOptions};
use tokenctl::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_restarts_within_its_poll_while_its_manager_waits_for_the_store_lease() {
    // 20:30 IST: the FYERS access token ends at 06:00 IST.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    common::write_private(&dir.path().join("secret_key"), &c.fyers_secret_key);
    common::write_private(&dir.path().join("pin"), &c.fyers_pin);
    let text = format!(
        "[[account]]\nbroker = \"fyers\"\nlabel = \"desk\"\nclient_id = \"{}\"\nsecret_key = {{ file = \"secret_key\" }}\npin = {{ file = \"pin\" }}\nredirect_uri = \"{}\"\nbase_url = \"{}\"\n",
        c.fyers_client_id, c.fyers_redirect_uri, c.fyers_base_url
    );
    let path = dir.path().join("tokenctl.toml");
    std::fs::write(&path, &text).unwrap();
    let registry = tokenctl::Registry::new().register::<fyers::Fyers>();
    let config = Config::parse(&text, &path, &registry).unwrap();
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let first = Account::open(&config.accounts[0], shared.clone(), Mode::Online)
        .await
        .unwrap();
    fyers_log_in(&first, &running).await;

    // 06:30 IST: the access token is idle (renewable), so exec's manager
    // renews at once, and waits for the lease another process holds.
    clock.set(Utc.with_ymd_and_hms(2026, 3, 5, 1, 0, 0).unwrap());
    let store = first.store().unwrap();
    let lease = store
        .lease(
            first.managed().key(),
            Duration::from_secs(120),
            Duration::from_secs(5),
        )
        .await
        .unwrap()
        .expect("the directory store leases");

    let seen = dir.path().join("seen");
    let pid = dir.path().join("pid");
    let script = format!(
        "echo $$ > '{pid}'; printf '%s\\n' \"$FYERS_ACCESS_TOKEN\" >> '{seen}'; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        pid = pid.display(),
        seen = seen.display()
    );
    let opts = ExecOptions {
        accounts: vec!["desk".into()],
        reload_signal: None,
        command: vec!["sh".into(), "-c".into(), script.into()],
        owner: tokenctl::cli::OwnerArgs::default(),
    };
    let task = {
        let (config, registry, clock) = (config.clone(), registry.clone(), shared.clone());
        tokio::spawn(async move { exec(&config, &registry, clock, opts).await })
    };
    // Expired for a bot: exec gives no token until a new one exists.
    assert_eq!(lines_in(&seen, 1).await, vec![String::new()]);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Another process logs in and saves a new token.
    let other = Account::open(&config.accounts[0], shared, Mode::Online)
        .await
        .unwrap();
    let new_token = fyers_log_in(&other, &running).await;
    let saved_at = Instant::now();
    let lines = lines_in(&seen, 2).await;
    let took = saved_at.elapsed();
    assert_eq!(lines[1], new_token);
    assert!(
        took < Duration::from_secs(6),
        "restarted {took:?} after the login"
    );

    drop(lease);
    let child = std::fs::read_to_string(&pid).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", child.trim()])
        .status();
    let code = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("exec ends with its command")
        .unwrap()
        .unwrap();
    assert_eq!(code, 0);
}
