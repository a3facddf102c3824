//! A token bucket per client IP, on the injected clock.
//!
//! Small on purpose (`governor` would bring its own clock abstraction, which
//! would not follow token-core's `ManualClock` in tests).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use token_core::Clock;

use crate::config::RateLimitConfig;

/// Buckets kept before idle ones are swept.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

/// Per-client token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_sec: f64,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl RateLimiter {
    /// A limiter with `config`'s burst and refill rate.
    pub fn new(config: RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            burst: f64::from(config.burst.max(1)),
            per_sec: f64::from(config.per_minute.max(1)) / 60.0,
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client` (`None`: address unknown, one shared
    /// bucket). `Err(wait)` says how long until a token is available.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            // Full buckets are as good as new ones: forget them.
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, b| refill(b, now, per_sec, burst) < burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let tokens = refill(bucket, now, self.per_sec, self.burst);
        bucket.updated = now.max(bucket.updated);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_sec))
        }
    }
}

fn refill(b: &Bucket, now: DateTime<Utc>, per_sec: f64, burst: f64) -> f64 {
    let elapsed = (now - b.updated).num_milliseconds().max(0) as f64 / 1000.0;
    (b.tokens + elapsed * per_sec).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use token_core::ManualClock;

    #[test]
    fn allows_a_burst_then_refills_at_the_configured_rate() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap());
        let rl = RateLimiter::new(
            RateLimitConfig {
                burst: 3,
                per_minute: 6,
            },
            Arc::new(clock.clone()),
        );
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..3 {
            assert!(rl.check(a).is_ok());
        }
        let wait = rl.check(a).unwrap_err();
        assert_eq!(wait.as_secs(), 10, "6 per minute = one every 10 s");
        assert!(rl.check(b).is_ok(), "clients have their own buckets");
        clock.advance(chrono::Duration::seconds(10));
        assert!(rl.check(a).is_ok());
        assert!(rl.check(a).is_err());
    }
}
