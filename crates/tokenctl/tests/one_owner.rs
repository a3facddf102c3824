//! One maintenance owner per account (issue 13 item 2), with real
//! `tokenctl run` processes over one store directory: the second refuses
//! (exit code 4) naming the account and the process that holds it; with
//! `--standby` it waits and takes over once the first is killed; and two
//! daemons over an expired E*TRADE account ask the broker-sim for one
//! authorization, not two. Over Redis: the second refuses too, and an
//! owner whose claim was taken stops (exit code 3).

mod common;

#[path = "../../token-store-redis/tests/common/mod.rs"]
mod redis_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::Utc;
use secrecy::SecretString;
use token_core::{
    AccountKey, Environment, FileStore, Metadata, Record, SystemClock, TokenStoreExt,
};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const SECRET_VAR: &str = "TOKENCTL_T13_ETRADE_SECRET";

struct Env {
    sim: RunningSim,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// A simulator, and one E*TRADE account whose stored token expired a
    /// day ago: a daemon must ask a person to log in.
    async fn start() -> Env {
        let sim = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let creds = sim.credentials();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tokenctl.toml");
        std::fs::write(
            &config,
            format!(
                "store = \"tokens\"\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\n\
                 label = \"main\"\nconsumer_key = \"{}\"\nconsumer_secret = {{ env = \"{SECRET_VAR}\" }}\n\
                 base_url = \"{}\"\n",
                creds.etrade_consumer_key, sim.base_url
            ),
        )
        .unwrap();
        let store = FileStore::open(dir.path().join("tokens")).unwrap();
        let key = AccountKey::new("etrade", Environment::Sandbox, "main").unwrap();
        let issued = Utc::now() - chrono::Duration::days(2);
        let mut meta = Metadata::issued(issued);
        meta.expires_at = Some(issued + chrono::Duration::hours(20));
        let payload = etrade::EtradeCredentials::new(
            SecretString::from("expired-Tk-9qZ4mW7x".to_string()),
            SecretString::from("expired-Sc-3vB8nL2p".to_string()),
        );
        store
            .save_typed(&Record::new(key, meta, payload))
            .await
            .unwrap();
        Env { sim, dir, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("TOKENCTL_CONFIG")
            .env_remove("RUST_LOG")
            .env(SECRET_VAR, self.sim.credentials().etrade_consumer_secret)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    fn spawn(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self.cmd(args).spawn().unwrap();
        let rx = common::lines(child.stderr.take().unwrap());
        (child, rx)
    }

    fn authorizations(&self) -> u64 {
        self.sim.sim.calls(Endpoint::EtradeRequestToken)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tokenctl did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to its end, at most 15 s (a second daemon that did not
/// refuse would run forever: killed, and the test fails); its exit code and
/// stderr.
fn refused(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(15));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_refuses_with_who_holds_the_account_and_one_prompt_is_made() {
    let env = Env::start().await;
    let (mut first, rx) = env.spawn(&["run"]);
    common::until(&rx, "a login is needed", &mut first);
    assert_eq!(env.authorizations(), 1);

    let (code, err) = refused(env.cmd(&["run"]));
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("account etrade/sandbox/main is already maintained by"),
        "{err}"
    );
    assert!(
        err.contains(&format!("process {} on host", first.id())),
        "{err}"
    );
    assert!(err.contains("--standby"), "{err}");
    assert!(
        !err.contains("a login is needed") && !err.contains("log in now"),
        "{err}"
    );
    // `exec` is refused the same way, before running its command.
    let mut exec = env.cmd(&["exec", "--", "sh", "-c", "touch ran"]);
    exec.current_dir(env.dir());
    let (code, err) = refused(exec);
    assert_eq!(code, Some(4), "{err}");
    assert!(!env.dir().join("ran").exists());
    // One prompt: the second daemon never asked the broker for a login.
    assert_eq!(env.authorizations(), 1);

    sigterm(&first);
    assert!(wait_exit(&mut first, Duration::from_secs(15)).success());
    // The claim went with the first daemon: a new one starts.
    let (mut next, rx) = env.spawn(&["run"]);
    common::until(&rx, "maintaining accounts", &mut next);
    sigterm(&next);
    assert!(wait_exit(&mut next, Duration::from_secs(15)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_waits_without_prompting_and_takes_over_when_the_owner_is_killed() {
    let env = Env::start().await;
    let (mut first, rx1) = env.spawn(&["run"]);
    common::until(&rx1, "a login is needed", &mut first);

    let (mut standby, rx2) = env.spawn(&["run", "--standby", "--standby-poll-ms", "20"]);
    let log = common::until(&rx2, "standing by", &mut standby);
    let line = log.last().unwrap();
    assert!(
        line.contains(&format!("process {} on host", first.id())),
        "{line}"
    );
    // While the owner lives the standby neither maintains nor prompts.
    std::thread::sleep(Duration::from_millis(200));
    assert!(standby.try_wait().unwrap().is_none());
    let early: Vec<String> = rx2.try_iter().collect();
    assert!(
        !early.iter().any(|l| l.contains("maintaining accounts")),
        "{early:?}"
    );
    assert_eq!(env.authorizations(), 1);
    // A standby stops on SIGTERM like the owner does.
    let (mut other, rx3) = env.spawn(&["run", "--standby", "--standby-poll-ms", "20"]);
    common::until(&rx3, "standing by", &mut other);
    sigterm(&other);
    assert!(wait_exit(&mut other, Duration::from_secs(10)).success());
    assert!(rx3.iter().any(|l| l.contains("stopped while standing by")));

    // SIGKILL: no clean shutdown, the OS drops the lock.
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = Instant::now();
    // Now it is the owner: it maintains the account and logs that a login
    // is needed (in either order), the same login in progress the dead
    // owner started (shared beside the store): no second request.
    let mut log = common::until(&rx2, "a login is needed", &mut standby);
    if !log.iter().any(|l| l.contains("maintaining accounts")) {
        log = common::until(&rx2, "maintaining accounts", &mut standby);
    }
    let took = killed.elapsed();
    println!("standby took over {took:?} after the owner was killed: {log:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(env.authorizations(), 1);
    sigterm(&standby);
    assert!(wait_exit(&mut standby, Duration::from_secs(15)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_redis_the_second_refuses_and_an_owner_whose_claim_was_taken_stops() {
    let Some(server) = redis_common::RedisServer::start_or_skip(
        "tokenctl one owner over redis",
        Default::default(),
    ) else {
        return;
    };
    let env = Env::start().await;
    std::fs::write(env.dir().join("redis_url"), format!("{}\n", server.url())).unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "store = \"tokens\"",
        "store = { kind = \"redis\", url = { file = \"redis_url\" }, prefix = \"t13\" }",
    );
    std::fs::write(&env.config, text).unwrap();
    let (mut first, rx) = env.spawn(&["run"]);
    common::until(&rx, "maintaining accounts", &mut first);

    let (code, err) = refused(env.cmd(&["run"]));
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains(&format!("process {} on host", first.id())),
        "{err}"
    );

    // Someone else now holds the claim (as after a pause longer than its
    // TTL): the first daemon notices at its next heartbeat and stops.
    let owner = "t13:owner:etrade/sandbox/main";
    let taken = server.raw(&["SET", owner, "another-daemon", "PX", "60000"]);
    assert!(taken.starts_with("+OK"), "{taken}");
    let log = common::until(&rx, "lost its maintenance claim", &mut first);
    let status = wait_exit(&mut first, Duration::from_secs(15));
    assert_eq!(status.code(), Some(3), "{}", log.join("\n"));
    // It did not delete the new holder's claim on its way out.
    assert!(server.raw(&["GET", owner]).contains("another-daemon"));
}
