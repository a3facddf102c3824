//! Token buckets per client source, on the injected clock, in a table of
//! fixed size.
//!
//! The table is an array of [`RateLimiter::slots`] buckets indexed by a hash
//! of the source (an IPv4 address, or an IPv6 /64 network, since one host
//! owns a whole /64). Two sources that hash alike share a bucket; nothing is
//! ever allocated after construction, so 100,000 (or 10 million) distinct
//! sources cost the same memory and the same time per request as one. Sharing
//! can only make a limit stricter, never looser, and an attacker cannot
//! reset its own bucket by flooding the table (there is no eviction to
//! trigger). Each bucket is 16 bytes.
//!
//! Small on purpose (`governor` would bring its own clock abstraction, which
//! would not follow token-core's `ManualClock` in tests).

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use token_core::Clock;

use crate::config::RateLimitConfig;

/// Buckets in a per-source table unless told otherwise.
pub const DEFAULT_SLOTS: usize = 4096;

/// One bucket: tokens left as of `updated_ms` (Unix milliseconds);
/// `updated_ms == NEVER` means untouched (full).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

const NEVER: i64 = i64::MIN;

/// Token buckets per client source in a fixed-size table.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_ms: f64,
    clock: Arc<dyn Clock>,
    slots: Mutex<Box<[Bucket]>>,
}

impl RateLimiter {
    /// A limiter with `config`'s burst and refill rate and
    /// [`DEFAULT_SLOTS`] buckets.
    pub fn new(config: RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_slots(config, clock, DEFAULT_SLOTS)
    }

    /// One bucket shared by every source: a global budget.
    pub fn global(config: RateLimitConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_slots(config, clock, 1)
    }

    /// A limiter with `slots` buckets (at least one).
    pub fn with_slots(config: RateLimitConfig, clock: Arc<dyn Clock>, slots: usize) -> Self {
        let empty = Bucket {
            tokens: 0.0,
            updated_ms: NEVER,
        };
        Self {
            burst: f64::from(config.burst.max(1)),
            per_ms: f64::from(config.per_minute.max(1)) / 60_000.0,
            clock,
            slots: Mutex::new(vec![empty; slots.max(1)].into_boxed_slice()),
        }
    }

    /// Buckets in the table.
    pub fn slots(&self) -> usize {
        self.lock().len()
    }

    /// Bytes the table holds (fixed at construction).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let rl = control::RateLimiter::new(Default::default(), Arc::new(token_core::SystemClock));
    /// assert_eq!(rl.slots(), 4096);
    /// assert!(rl.memory_bytes() <= 4096 * 16 + 128, "16 bytes a bucket, plus the header");
    /// ```
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots() * std::mem::size_of::<Bucket>()
    }

    /// Takes one token for `client` (`None`: address unknown). `Err(wait)`
    /// says how long until a token is available.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now().timestamp_millis();
        let mut slots = self.lock();
        let i = index(client, slots.len());
        let bucket = &mut slots[i];
        let tokens = self.refill(bucket, now);
        bucket.updated_ms = now.max(bucket.updated_ms);
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            Err(self.wait(tokens))
        }
    }

    /// Whether `client` has a token left, without taking it. `Err(wait)` as
    /// for [`RateLimiter::check`].
    pub fn peek(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let now = self.clock.now().timestamp_millis();
        let slots = self.lock();
        let tokens = self.refill(&slots[index(client, slots.len())], now);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(self.wait(tokens))
        }
    }

    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64((1.0 - tokens) / self.per_ms / 1000.0)
    }

    fn refill(&self, b: &Bucket, now_ms: i64) -> f64 {
        if b.updated_ms == NEVER {
            return self.burst;
        }
        let elapsed = now_ms.saturating_sub(b.updated_ms).max(0) as f64;
        (b.tokens + elapsed * self.per_ms).min(self.burst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<[Bucket]>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The slot of `client`: IPv4 addresses as they are, IPv6 by /64 network.
/// A fixed hasher keeps the mapping the same from run to run (tests are
/// deterministic); sharing a slot only ever makes a limit stricter.
fn index(client: Option<IpAddr>, slots: usize) -> usize {
    if slots == 1 {
        return 0;
    }
    let key: Option<u128> = client.map(|ip| match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) >> 64) | (1 << 127),
        },
    });
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    // Lossless on 64-bit; on 32-bit the low bits are as good as any.
    (h % slots as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use token_core::ManualClock;

    fn clock() -> ManualClock {
        ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap())
    }

    #[test]
    fn allows_a_burst_then_refills_at_the_configured_rate() {
        let clock = clock();
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

    #[test]
    fn peek_does_not_take_a_token() {
        let clock = clock();
        let rl = RateLimiter::new(
            RateLimitConfig {
                burst: 1,
                per_minute: 1,
            },
            Arc::new(clock),
        );
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..5 {
            assert!(rl.peek(a).is_ok());
        }
        assert!(rl.check(a).is_ok());
        assert!(rl.peek(a).is_err());
    }

    #[test]
    fn one_ipv6_host_is_one_source_whatever_its_interface_id() {
        let rl = RateLimiter::new(
            RateLimitConfig {
                burst: 2,
                per_minute: 1,
            },
            Arc::new(clock()),
        );
        let v6 = |n: u128| IpAddr::from(std::net::Ipv6Addr::from(n));
        let base =
            u128::from_be_bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(rl.check(Some(v6(base | 1))).is_ok());
        assert!(rl.check(Some(v6(base | 0xffff))).is_ok());
        assert!(
            rl.check(Some(v6(base | 0xdead_beef))).is_err(),
            "same /64, same bucket"
        );
    }

    #[test]
    fn a_global_limiter_is_one_bucket_for_everyone() {
        let rl = RateLimiter::global(
            RateLimitConfig {
                burst: 2,
                per_minute: 1,
            },
            Arc::new(clock()),
        );
        assert_eq!(rl.slots(), 1);
        assert!(rl.check(Some(IpAddr::from([127, 0, 0, 1]))).is_ok());
        assert!(rl.check(Some(IpAddr::from([127, 9, 9, 9]))).is_ok());
        assert!(rl.check(None).is_err());
    }
}
