//! Change notifications: a task that keeps a pub/sub subscription to the
//! store's channel and forwards changed account keys to a broadcast channel.
//!
//! A subscription can drop (Redis restarted, network cut, the connection was
//! killed). Messages published meanwhile are lost, so after re-subscribing
//! the task announces every account it knows of, and while it cannot
//! re-subscribe it announces them at a bounded interval: managers then
//! re-read the store (`reload_if_newer`) and miss nothing for long.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use token_core::AccountKey;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Capacity of the change channel; a manager that lags reloads anyway.
const CHANNEL_CAPACITY: usize = 256;

/// State shared by the store and its subscription task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) sender: broadcast::Sender<AccountKey>,
    known: Mutex<BTreeSet<AccountKey>>,
    connected: AtomicBool,
    subscriptions: AtomicU64,
    synthetic: AtomicU64,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            known: Mutex::new(BTreeSet::new()),
            connected: AtomicBool::new(false),
            subscriptions: AtomicU64::new(0),
            synthetic: AtomicU64::new(0),
        })
    }

    fn known(&self) -> MutexGuard<'_, BTreeSet<AccountKey>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers an account so it is announced after a subscription loss.
    pub(crate) fn remember(&self, key: &AccountKey) {
        let mut known = self.known();
        if !known.contains(key) {
            known.insert(key.clone());
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Ordering::Acquire)
    }

    pub(crate) fn synthetic(&self) -> u64 {
        self.synthetic.load(Ordering::Acquire)
    }

    /// Announces every known account (no receivers is fine).
    fn announce_all(&self) {
        let keys: Vec<AccountKey> = self.known().iter().cloned().collect();
        for key in keys {
            self.synthetic.fetch_add(1, Ordering::AcqRel);
            let _ = self.sender.send(key);
        }
    }
}

/// Settings of the subscription task.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) channel: String,
    pub(crate) reload_interval: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Subscribes once: `Ok` with the message stream when subscribed.
async fn subscribe(
    client: &redis::Client,
    settings: &Settings,
) -> Result<redis::aio::PubSubStream, String> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&settings.channel).await?;
        Ok::<_, redis::RedisError>(pubsub.into_on_message())
    };
    match tokio::time::timeout(settings.connect_timeout, attempt).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

/// Subscribes for the first time (so a freshly connected store never misses
/// a change), then spawns the task that keeps the subscription alive until
/// `stop` is dropped.
pub(crate) async fn start(
    client: redis::Client,
    settings: Settings,
    shared: Arc<Shared>,
    stop: watch::Receiver<()>,
) -> Result<(), String> {
    let stream = subscribe(&client, &settings).await?;
    shared.connected.store(true, Ordering::Release);
    shared.subscriptions.fetch_add(1, Ordering::AcqRel);
    tokio::spawn(run(client, settings, shared, stop, stream));
    Ok(())
}

async fn run(
    client: redis::Client,
    settings: Settings,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<()>,
    first: redis::aio::PubSubStream,
) {
    let mut stream = Some(first);
    let mut backoff = settings.backoff_min;
    let mut last_fallback = Instant::now();
    loop {
        if let Some(mut messages) = stream.take() {
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    msg = messages.next() => match msg {
                        Some(msg) => forward(&shared, &msg),
                        None => break,
                    },
                }
            }
            shared.connected.store(false, Ordering::Release);
            tracing::warn!("redis change subscription dropped; re-subscribing");
            backoff = settings.backoff_min;
            last_fallback = Instant::now();
        }
        // Down: wait, then try again; announce known accounts at the
        // reload interval meanwhile.
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        match subscribe(&client, &settings).await {
            Ok(messages) => {
                shared.connected.store(true, Ordering::Release);
                shared.subscriptions.fetch_add(1, Ordering::AcqRel);
                tracing::info!("redis change subscription re-established");
                // Whatever was published while we were away is lost.
                shared.announce_all();
                stream = Some(messages);
            }
            Err(e) => {
                tracing::debug!(error = %e, "redis change subscription: retry failed");
                backoff = (backoff * 2).min(settings.backoff_max);
                if last_fallback.elapsed() >= settings.reload_interval {
                    shared.announce_all();
                    last_fallback = Instant::now();
                }
            }
        }
    }
}

fn forward(shared: &Shared, msg: &redis::Msg) {
    let Ok(payload) = msg.get_payload::<String>() else {
        return;
    };
    // Anything else on the channel is ignored, not trusted.
    if let Ok(key) = payload.parse::<AccountKey>() {
        shared.remember(&key);
        let _ = shared.sender.send(key);
    }
}
