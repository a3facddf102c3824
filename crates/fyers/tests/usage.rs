//! Using the token: the header, `.env` compatibility, the loopback login,
//! and secrets staying out of every printable surface.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, SimConfig};
use common::*;
use fyers::{login_via_loopback, FyersCreds, FyersProvider, LoopbackListener};
use secrecy::{ExposeSecret, SecretString};
use token_core::{
    Clock, Event, MemoryStore, TokenManager, TokenProvider, TokenStore, TokenStoreExt,
};

/// A wrong PIN that cannot occur by chance in any output.
const WRONG_PIN: &str = "WrongPin-Hv3Tq8-8642";

#[tokio::test]
async fn the_authorization_header_is_client_id_colon_access_token() {
    let env = start().await;
    let creds = login(&env).await;
    let value = env.provider.authorization(&creds);
    assert_eq!(
        value.expose_secret(),
        format!("SIMAPP0001-100:{}", access(&creds.payload))
    );
    let header = creds
        .payload
        .authorization_header("SIMAPP0001-100")
        .unwrap();
    assert!(header.is_sensitive());
    // The broker accepts it as is.
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/profile", env.running.fyers_base_url()))
        .header(reqwest::header::AUTHORIZATION, header)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn tokens_live_in_fyers_access_token_and_fyers_refresh_token_of_a_dotenv_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "# my bot\nBOT_NAME=alpha\nFYERS_ACCESS_TOKEN=stale\n",
    )
    .unwrap();
    let store = Arc::new(fyers::env::env_file_store(&path, key(), 15));
    let env = start_with(SimConfig::default(), store.clone(), |c| c).await;
    // The stale hand-written token is opaque: it loads with the 06:00 rule.
    let loaded = store
        .load_typed::<FyersCreds>(&key())
        .await
        .unwrap()
        .unwrap();
    assert!(loaded.meta.expires_at.is_some());

    let creds = login(&env).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# my bot") && text.contains("BOT_NAME=alpha"),
        "{text}"
    );
    assert!(text.contains(&format!("FYERS_ACCESS_TOKEN={}", access(&creds.payload))));
    assert!(text.contains(&format!("FYERS_REFRESH_TOKEN={}", refresh(&creds.payload))));
    assert!(text.contains("FYERS_TOKEN_META="));

    // Another tool rewrites the file without our metadata: expiry comes from the JWTs.
    std::fs::write(
        &path,
        format!(
            "FYERS_ACCESS_TOKEN={}\nFYERS_REFRESH_TOKEN={}\n",
            access(&creds.payload),
            refresh(&creds.payload)
        ),
    )
    .unwrap();
    let loaded = store
        .load_typed::<FyersCreds>(&key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.meta.expires_at, creds.meta.expires_at);
    assert_eq!(
        loaded.meta.refresh_expires_at,
        creds.meta.refresh_expires_at
    );

    // A new process picks it up and refreshes from it.
    let manager = TokenManager::new(
        key(),
        env.provider.clone(),
        store.clone(),
        Arc::new(fyers::default_policy()),
        Arc::new(env.clock.clone()),
        fyers::default_manager_config(),
    );
    assert!(manager.load().await.unwrap());
    env.clock.set(ist(2026, 3, 3, 6, 0));
    let fresh = manager
        .ensure_fresh()
        .await
        .expect("refresh from the .env tokens");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("FYERS_ACCESS_TOKEN={}", access(&fresh.payload))));
}

#[tokio::test]
async fn a_malformed_token_in_a_dotenv_file_is_a_typed_store_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "FYERS_ACCESS_TOKEN=a.%%%.c\n").unwrap();
    let store = fyers::env::env_file_store(&path, key(), 15);
    let err = store.load(&key()).await.unwrap_err();
    assert!(
        matches!(err, token_core::StoreError::Corrupt { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("%%%"));
}

#[tokio::test]
async fn logs_in_through_the_loopback_listener() {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let redirect_uri = format!("http://127.0.0.1:{port}/fyers/callback");
    let sim_config = SimConfig {
        fyers_redirect_uri: redirect_uri.clone(),
        ..SimConfig::default()
    };
    let env = start_with(sim_config, Arc::new(MemoryStore::new()), |c| c).await;
    let listener = LoopbackListener::from_listener(tcp, &redirect_uri).unwrap();
    // The "browser": opens the login URL and follows FYERS' redirect.
    let creds = login_via_loopback(&env.manager, listener, StdDuration::from_secs(10), |url| {
        let url = url.to_string();
        tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let page = client.get(url).send().await.unwrap().text().await.unwrap();
            assert!(page.contains("You can close this tab"), "{page}");
        });
    })
    .await
    .expect("login via loopback");
    assert!(env.manager.token().is_ok());
    assert_eq!(env.sim().calls(Endpoint::FyersValidateAuthcode), 1);
    env.provider.probe(&creds).await.unwrap();
}

#[tokio::test]
async fn secrets_never_appear_in_debug_events_health_or_errors() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    let creds = login(&env).await;
    let c = env.running.credentials();
    let secrets = [
        access(&creds.payload),
        refresh(&creds.payload),
        c.fyers_secret_key.clone(),
        fyers::app_id_hash(
            &c.fyers_client_id,
            &SecretString::from(c.fyers_secret_key.clone()),
        ),
    ];
    // Refresh with the wrong PIN and with refresh disabled to get errors too.
    let wrong = FyersProvider::new(
        {
            let mut cfg = config_for(&env.running);
            cfg.pin = SecretString::from(WRONG_PIN);
            cfg
        },
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    let pin_err = wrong.renew(&creds).await.unwrap_err();
    env.sim().set_fyers_refresh_disabled(true);
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    let mut printed = vec![
        format!("{creds:?}"),
        format!("{:?}", env.provider),
        format!("{:?}", env.manager),
        format!("{pin_err} {pin_err:?}"),
        serde_json::to_string(&env.manager.health()).unwrap(),
    ];
    for e in drain(&mut events) {
        printed.push(format!("{e:?}"));
        printed.push(serde_json::to_string(&e).unwrap());
        if let Event::ReauthorizationRequired { reason, .. } = e {
            printed.push(reason);
        }
    }
    for text in &printed {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "secret leaked into: {text}");
        }
        assert!(
            !text.contains(WRONG_PIN) && !text.contains(&c.fyers_pin),
            "PIN leaked into: {text}"
        );
    }
    assert!(env.clock.now() > creds.meta.issued_at);
}
