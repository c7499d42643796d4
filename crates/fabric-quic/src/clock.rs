//! The one place the crate reads the wall clock. Decisions take `now` as an
//! argument (certificate validity, relay leases); only the IO drivers call
//! `unix_now` to supply it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; 0 on a clock set before it.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
