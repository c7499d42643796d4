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

    /// The cap's rule after an ack of `bytes`, given the path's minimum and
    /// smoothed RTT (quinn's estimator cannot be built outside quinn, so
    /// tests drive this directly).
    fn on_rtt(&mut self, now: Instant, bytes: u64, min: Duration, smoothed: Duration) {
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
}

impl Controller for DelayCapped {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.inner.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator) {
        self.inner.on_ack(now, sent, bytes, app_limited, rtt);
        self.on_rtt(now, bytes, rtt.min(), rtt.get());
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

#[cfg(test)]
mod tests {
    use super::*;

    const MTU: u16 = 1200;
    const FLOOR: u64 = 16 * MTU as u64;

    /// An inner controller with a window the test sets; loss halves it.
    struct Fixed(u64);

    impl Controller for Fixed {
        fn on_congestion_event(&mut self, _now: Instant, _sent: Instant, _persistent: bool, _lost: u64) {
            self.0 /= 2;
        }
        fn on_mtu_update(&mut self, _new_mtu: u16) {}
        fn window(&self) -> u64 {
            self.0
        }
        fn clone_box(&self) -> Box<dyn Controller> {
            Box::new(Fixed(self.0))
        }
        fn initial_window(&self) -> u64 {
            self.0
        }
        fn into_any(self: Box<Self>) -> Box<dyn Any> {
            self
        }
    }

    fn capped(inner_window: u64) -> DelayCapped {
        DelayCapped { inner: Box::new(Fixed(inner_window)), cap: u64::MAX, mtu: MTU as u64, min_target: Duration::from_millis(1), last_cut: None }
    }

    /// Virtual time: `at(ms)` is `ms` after a fixed origin.
    fn clock() -> impl Fn(u64) -> Instant {
        let origin = Instant::now();
        move |ms| origin + Duration::from_millis(ms)
    }

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Equal up to the byte or two lost converting RTT ratios through f64.
    fn assert_near(window: u64, expected: u64) {
        assert!(window.abs_diff(expected) <= 2, "window {window}, expected about {expected}");
    }

    #[test]
    fn without_queueing_delay_the_inner_window_is_used() {
        let at = clock();
        let mut cc = capped(1_000_000);
        // min 10 ms: the target is 10 ms, so up to 20 ms smoothed is no queue.
        for i in 0..100 {
            cc.on_rtt(at(i * 10), 10_000, ms(10), ms(20));
        }
        assert_eq!(cc.window(), 1_000_000);
    }

    #[test]
    fn queueing_delay_cuts_the_window_in_proportion_but_never_by_more_than_half() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_rtt(at(0), 10_000, ms(10), ms(25));
        assert_near(cc.window(), 800_000); // (10 + 10) / 25 of the window
        let mut cc = capped(1_000_000);
        cc.on_rtt(at(0), 10_000, ms(10), ms(100));
        assert_eq!(cc.window(), 500_000, "20 / 100 would be a fifth; at most half goes at once");
    }

    #[test]
    fn on_short_paths_the_configured_target_applies() {
        let at = clock();
        let us = Duration::from_micros;
        let mut cc = capped(1_000_000);
        // min 100 µs: the 1 ms target is larger, so 1.1 ms smoothed is still no queue.
        cc.on_rtt(at(0), 10_000, us(100), us(1_100));
        assert_eq!(cc.window(), 1_000_000);
        cc.on_rtt(at(1), 10_000, us(100), us(2_200));
        assert_eq!(cc.window(), 500_000);
    }

    #[test]
    fn the_window_is_cut_at_most_once_per_smoothed_rtt() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_rtt(at(0), 10_000, ms(10), ms(25));
        let first = cc.window();
        assert_near(first, 800_000);
        cc.on_rtt(at(10), 10_000, ms(10), ms(25));
        cc.on_rtt(at(24), 10_000, ms(10), ms(25));
        assert_eq!(cc.window(), first, "still inside the RTT of the last cut");
        cc.on_rtt(at(25), 10_000, ms(10), ms(25));
        assert_near(cc.window(), 640_000);
        // A copy (quinn clones controllers) carries the cap and when it was set.
        let copy = cc.clone_box();
        assert_eq!(copy.window(), cc.window());
        assert_eq!(cc.metrics().congestion_window, cc.window());
    }

    #[test]
    fn the_window_never_falls_below_sixteen_packets() {
        let at = clock();
        let mut cc = capped(1_000_000);
        for i in 0..40 {
            cc.on_rtt(at(i * 100), 10_000, ms(10), ms(100));
        }
        assert_eq!(cc.window(), FLOOR);
        cc.on_mtu_update(1500);
        assert_eq!(cc.window(), 16 * 1500);
    }

    #[test]
    fn once_the_queue_drains_the_cap_grows_with_acks_until_it_lifts() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_rtt(at(0), 10_000, ms(10), ms(100));
        assert_eq!(cc.window(), 500_000);
        cc.on_rtt(at(200), 200_000, ms(10), ms(15));
        assert_eq!(cc.window(), 700_000);
        cc.on_rtt(at(210), 200_000, ms(10), ms(15));
        assert_eq!(cc.window(), 900_000);
        cc.on_rtt(at(220), 200_000, ms(10), ms(15));
        assert_eq!(cc.cap, u64::MAX, "lifted once it reaches the inner window");
        assert_eq!(cc.window(), 1_000_000);
    }

    #[test]
    fn losses_still_shrink_the_window_through_the_inner_controller() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_rtt(at(0), 10_000, ms(10), ms(25));
        assert_near(cc.window(), 800_000);
        cc.on_congestion_event(at(1), at(0), false, 1200);
        assert_eq!(cc.window(), 500_000, "the smaller of the inner window and the cap");
    }

    #[test]
    fn the_default_controller_wraps_cubic_and_starts_at_least_at_the_floor() {
        let at = clock();
        let cc = Arc::new(DelayCappedConfig::new(Duration::from_millis(1))).build(at(0), MTU);
        assert!(cc.window() >= FLOOR);
        assert!(cc.window() >= cc.initial_window());
        assert_eq!(cc.metrics().congestion_window, cc.window());
    }
}
