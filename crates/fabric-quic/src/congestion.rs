//! CUBIC with a cap on queueing delay.
//!
//! Loss-based CUBIC grows its window until something drops. Between two
//! mesh nodes the queue that fills first is often not a router's but the
//! receiver's own (socket buffer, quinn's per-connection channel), which
//! never drops; so bulk classes would keep several MiB in flight and every
//! `input` message would wait behind them. Stream priorities cannot reorder
//! packets already sent. This controller keeps CUBIC's window but caps it
//! whenever the smoothed RTT rises more than `target` above the path's
//! minimum RTT (a Vegas-like rule, at most once per RTT), and lets the cap
//! grow again at the ack rate once the queue has drained. Bytes in flight then
//! stay near the bandwidth-delay product plus `target` of queue.

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics, CubicConfig};
use quinn_proto::RttEstimator;
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct DelayCappedConfig {
    cubic: Arc<CubicConfig>,
    /// Least queueing delay tolerated; the path's min RTT when larger.
    pub min_target: Duration,
}

impl DelayCappedConfig {
    pub fn new(min_target: Duration) -> DelayCappedConfig {
        DelayCappedConfig { cubic: Arc::new(CubicConfig::default()), min_target }
    }
}

impl ControllerFactory for DelayCappedConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        let inner = self.cubic.clone().build(now, current_mtu);
        Box::new(DelayCapped { inner, cap: u64::MAX, mtu: current_mtu as u64, min_target: self.min_target, last_cut: None })
    }
}

struct DelayCapped {
    inner: Box<dyn Controller>,
    cap: u64,
    mtu: u64,
    min_target: Duration,
    last_cut: Option<Instant>,
}

impl DelayCapped {
    fn floor(&self) -> u64 {
        16 * self.mtu
    }
}

impl Controller for DelayCapped {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.inner.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator) {
        self.inner.on_ack(now, sent, bytes, app_limited, rtt);
        let (min, smoothed) = (rtt.min(), rtt.get());
        let target = self.min_target.max(min);
        if smoothed > min + target {
            let once_per_rtt = self.last_cut.is_none_or(|t| now.duration_since(t) >= smoothed);
            if once_per_rtt {
                let window = self.window() as f64;
                // Never more than halve at once: RTT samples on a busy host are noisy.
                let scaled = window * ((min + target).as_secs_f64() / smoothed.as_secs_f64()).max(0.5);
                self.cap = (scaled as u64).max(self.floor());
                self.last_cut = Some(now);
            }
        } else if self.cap != u64::MAX {
            self.cap = self.cap.saturating_add(bytes);
            if self.cap >= self.inner.window() {
                self.cap = u64::MAX;
            }
        }
    }

    fn on_end_acks(&mut self, now: Instant, in_flight: u64, app_limited: bool, largest_packet_num_acked: Option<u64>) {
        self.inner.on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, is_persistent_congestion: bool, lost_bytes: u64) {
        self.inner.on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu = new_mtu as u64;
        self.inner.on_mtu_update(new_mtu);
    }

    fn window(&self) -> u64 {
        self.inner.window().min(self.cap).max(self.floor())
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut m = self.inner.metrics();
        m.congestion_window = self.window();
        m
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(DelayCapped { inner: self.inner.clone_box(), cap: self.cap, mtu: self.mtu, min_target: self.min_target, last_cut: self.last_cut })
    }

    fn initial_window(&self) -> u64 {
        self.inner.initial_window()
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
