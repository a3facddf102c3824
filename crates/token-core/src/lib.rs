//! token-core: the broker-agnostic heart of broker-tokens.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;

pub use clock::{Clock, ManualClock, SystemClock};
