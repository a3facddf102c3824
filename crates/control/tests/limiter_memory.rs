//! The rate limiter's heap, counted by a counting allocator (its own test
//! binary: the allocator is process-wide). Only this thread's allocations
//! are counted, so the test harness's own threads cannot disturb the figure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use control::{RateLimitConfig, RateLimiter};

struct Counting;

thread_local! {
    /// Bytes live from this thread's allocations (const-initialised: no
    /// allocation of its own).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: the slot may be gone while the thread exits.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

fn live() -> usize {
    usize::try_from(LIVE.with(Cell::get)).unwrap_or(0)
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn heap_is_fixed_at_construction_whatever_the_number_of_sources() {
    let clock: Arc<dyn token_core::Clock> = Arc::new(token_core::ManualClock::new(
        chrono::DateTime::from_timestamp(1_767_000_000, 0).unwrap(),
    ));
    let config = RateLimitConfig {
        burst: 5,
        per_minute: 5,
    };
    let start = live();
    let limiter = RateLimiter::new(config, clock);
    let built = live() - start;
    for i in 0..100_000u32 {
        let v4 = IpAddr::from(Ipv4Addr::from(0x7f00_0000 | i));
        let v6 = IpAddr::from(Ipv6Addr::from(u128::from(i) << 64));
        let _ = limiter.check(Some(v4));
        let _ = limiter.check(Some(v6));
    }
    let after = live() - start;
    println!(
        "rate limiter heap: {built} bytes built, {after} bytes after 200000 distinct sources (100000 IPv4 + 100000 IPv6 /64)"
    );
    assert_eq!(after, built, "no allocation per source");
    assert!(
        built <= limiter.memory_bytes(),
        "{built} > {}",
        limiter.memory_bytes()
    );
    assert!(built < 80 * 1024, "{built}");
}
