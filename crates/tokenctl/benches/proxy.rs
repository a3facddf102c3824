//! The local signing proxy on loopback against broker-sim (release build:
//! `cargo bench -p tokenctl --bench proxy`): latency the proxy adds over a
//! direct signed E*TRADE call (p50, p99), and requests per second with 16
//! concurrent clients. Targets: p50 added <= 200 us, >= 2,000 requests/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig};
use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::{ManualClock, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::Config;
use tokenctl::proxy::ProxyAccount;

const BEARER: &str = "Px7Zq-S3cr3t-9f86d081884c7d65-proxy-bearer";
const SAMPLES: usize = 2_000;
const CLIENTS: usize = 16;
const LOAD_FOR: Duration = Duration::from_secs(3);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    // A Wednesday 10:00 New York: the token stays fresh for the whole run.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("simulator");
    let c = running.credentials();
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [
        ("consumer_secret", c.etrade_consumer_secret.as_str()),
        ("proxy-token", BEARER),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
    }
    let text = format!(
        "[proxy]\ntoken = {{ file = \"proxy-token\" }}\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\nconsumer_key = \"{}\"\nconsumer_secret = {{ file = \"consumer_secret\" }}\nbase_url = \"{}\"\n",
        c.etrade_consumer_key, running.base_url
    );
    let path = dir.path().join("tokenctl.toml");
    let registry = tokenctl::Registry::new().register::<etrade::Etrade>();
    let config = Config::parse(&text, &path, &registry).expect("config");
    let shared: Arc<dyn token_core::Clock> = Arc::new(clock.clone());
    let acct = Account::open(&config.accounts[0], shared.clone(), Mode::Online)
        .await
        .expect("account");
    let m = acct.managed();
    let request = m.begin_authorization().await.expect("login");
    let token = url::Url::parse(&request.url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token");
    let verifier = running.sim.approve_etrade(&token).expect("approve");
    m.complete_authorization(&SecretString::from(verifier))
        .await
        .expect("complete");
    let rec = acct
        .store()
        .expect("store")
        .load(m.key())
        .await
        .expect("load")
        .expect("record");
    let field = |f: &str| {
        SecretString::from(
            rec.payload
                .get(f)
                .expect("field")
                .expose_secret()
                .to_owned(),
        )
    };
    let creds = etrade::EtradeCredentials::new(field("oauth_token"), field("oauth_token_secret"));
    let signer = etrade::Signer::with_clock(
        c.etrade_consumer_key.clone(),
        SecretString::from(c.etrade_consumer_secret.clone()),
        shared,
    );

    let cfg = config.proxy_table().expect("[proxy]").expect("[proxy]");
    let bearer = control::BearerToken::configured(&SecretString::from(BEARER)).expect("bearer");
    let served = vec![ProxyAccount {
        managed: acct.managed(),
        target: acct.proxy_target(),
    }];
    let router = tokenctl::proxy::router(served, Some(bearer), &cfg).expect("router");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = format!(
        "http://{}/main/v1/accounts/list.json",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(tokenctl::proxy::serve(
        listener,
        router,
        cfg.serve_limits(),
        std::future::pending(),
    ));
    let direct =
        url::Url::parse(&format!("{}/v1/accounts/list.json", running.base_url)).expect("url");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    let via_direct = || async {
        let auth = signer.sign("GET", &direct, None, &creds).expect("sign");
        let r = http
            .get(direct.clone())
            .header("authorization", auth)
            .send()
            .await
            .expect("direct");
        assert!(r.status().is_success(), "direct: {}", r.status());
        r.bytes().await.expect("body");
    };
    let via_proxy = |http: reqwest::Client, proxy: String| async move {
        let r = http
            .get(proxy)
            .bearer_auth(BEARER)
            .send()
            .await
            .expect("proxy");
        assert!(r.status().is_success(), "proxy: {}", r.status());
        r.bytes().await.expect("body");
    };

    // Warm up both paths (connections, caches).
    for _ in 0..200 {
        via_direct().await;
        via_proxy(http.clone(), proxy.clone()).await;
    }
    let mut direct_t = Vec::with_capacity(SAMPLES);
    let mut proxy_t = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        via_direct().await;
        direct_t.push(t.elapsed());
        let t = Instant::now();
        via_proxy(http.clone(), proxy.clone()).await;
        proxy_t.push(t.elapsed());
    }
    direct_t.sort_unstable();
    proxy_t.sort_unstable();
    let (d50, d99) = (percentile(&direct_t, 0.50), percentile(&direct_t, 0.99));
    let (p50, p99) = (percentile(&proxy_t, 0.50), percentile(&proxy_t, 0.99));
    println!("direct signed call: p50 {d50:?}  p99 {d99:?}  ({SAMPLES} sequential)");
    println!("through the proxy:  p50 {p50:?}  p99 {p99:?}");
    println!(
        "added by the proxy: p50 {:?}  p99 {:?}  (target p50 <= 200us)",
        p50.saturating_sub(d50),
        p99.saturating_sub(d99)
    );

    let deadline = Instant::now() + LOAD_FOR;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, proxy) = (http.clone(), proxy.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                via_proxy(http.clone(), proxy.clone()).await;
                n += 1;
            }
            n
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{CLIENTS} concurrent clients: {total} requests in {secs:.2} s = {:.0} requests/s (target >= 2000)",
        total as f64 / secs
    );
}
