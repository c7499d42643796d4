//! CUBIC with a cap on queueing delay, and tolerant of random loss.
//!
//! Loss-based CUBIC grows its window until something drops. Between two
//! mesh nodes the queue that fills first is a router's bottleneck buffer
//! (often 100 ms or more at the link rate) or the receiver's own (socket
//! buffer, quinn's per-connection channel), and neither drops until it is
//! full; so bulk classes would keep a full buffer in flight and every `input`
//! message would wait behind it. Stream priorities cannot reorder packets
//! already sent. This controller keeps CUBIC's window as an upper bound and
//! adds a cap steered by queueing delay (FAST TCP's rule, once per round
//! trip): with `q` the least RTT sample of the last round and `t` the
//! tolerated queueing delay, `cap ← cap × (½ + ½ × (min + t) / q)`, at most
//! halved or doubled per round, applied to what the round actually had in
//! flight when that is less than the window (a sender held back by a busy
//! receiver or CPU, not by the window, would otherwise carry a window many
//! times the path's capacity and need a dozen rounds of halving before the
//! cap bites). It settles where the standing queue is `t`:
//! `max(min_target, rtt_share × min RTT)`, small next to the path's own delay,
//! so `input` waits little more than on an idle link while the bottleneck
//! stays busy. The least sample of a round, not the smoothed RTT, so that a
//! delayed ack or a descheduled thread on a busy host is not read as a queue.
//!
//! Loss: a link that loses packets at random (radio, a lossy hop) is not
//! congested, and CUBIC's cut per loss event would hold the window far
//! below the path's capacity (1 % loss at 20 ms: about a sixth of 50 Mbit/s).
//! The queue is what the delay rule already watches; so a loss counts as
//! congestion only when the share of bytes lost over the last `LOSS_ROUNDS`
//! rounds exceeds `loss_tolerance` (BBRv2 uses 2 %) and more than
//! `LOSS_PACKETS_TOLERATED` packets were lost. Congestive loss cuts the cap by
//! CUBIC's 0.7 (once per round; before the first delay signal, in slow start,
//! CUBIC itself cuts), and persistent congestion always reaches CUBIC. A
//! buffer that overflows before the queue reaches `t` loses more than that,
//! and is answered like loss-based CUBIC would, but recovers by the delay
//! rule within a few rounds instead of CUBIC's seconds.

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics, CubicConfig};
use quinn_proto::RttEstimator;
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds over which the loss share is measured.
const LOSS_ROUNDS: usize = 4;
/// Losses (in packets) over those rounds that are random whatever their share:
/// a young connection has sent too little for one lost packet to say anything,
/// and one early cut would keep CUBIC's window small for seconds.
const LOSS_PACKETS_TOLERATED: u64 = 2;

pub struct DelayCappedConfig {
    cubic: Arc<CubicConfig>,
    /// Least queueing delay tolerated (on short paths the RTT share is below it).
    pub min_target: Duration,
    /// Queueing delay tolerated as a share of the path's minimum RTT.
    pub rtt_share: f64,
    /// Share of bytes lost (over the last rounds) below which a loss is taken as random, not congestion.
    pub loss_tolerance: f64,
}

impl DelayCappedConfig {
    pub fn new(min_target: Duration, rtt_share: f64, loss_tolerance: f64) -> DelayCappedConfig {
        DelayCappedConfig { cubic: Arc::new(CubicConfig::default()), min_target, rtt_share, loss_tolerance }
    }
}

impl ControllerFactory for DelayCappedConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        let inner = self.cubic.clone().build(now, current_mtu);
        Box::new(DelayCapped {
            inner,
            cap: u64::MAX,
            mtu: current_mtu as u64,
            min_target: self.min_target,
            rtt_share: self.rtt_share,
            loss_tolerance: self.loss_tolerance,
            round_end: None,
            round_min: None,
            round_in_flight: None,
            batch_acked: 0,
            rounds: [(0, 0); LOSS_ROUNDS],
            smoothed: Duration::ZERO,
            loss_cut_until: None,
        })
    }
}

struct DelayCapped {
    inner: Box<dyn Controller>,
    cap: u64,
    mtu: u64,
    min_target: Duration,
    rtt_share: f64,
    loss_tolerance: f64,
    /// When the current round ends (one smoothed RTT after it began).
    round_end: Option<Instant>,
    /// Least RTT sample of the current round.
    round_min: Option<Duration>,
    /// Most bytes that were in flight when an ack batch of the current round
    /// arrived (what was left in flight plus what the batch acknowledged).
    round_in_flight: Option<u64>,
    /// Bytes acknowledged so far in the ack batch being processed.
    batch_acked: u64,
    /// (bytes sent, bytes lost) of the current round first, then the previous ones.
    rounds: [(u64, u64); LOSS_ROUNDS],
    /// The smoothed RTT last seen (a round's length).
    smoothed: Duration,
    /// A loss cut of the cap is made at most once per round: not before this.
    loss_cut_until: Option<Instant>,
}

impl DelayCapped {
    fn floor(&self) -> u64 {
        16 * self.mtu
    }

    fn target(&self, min: Duration) -> Duration {
        self.min_target.max(min.mul_f64(self.rtt_share))
    }

    /// What the round's rule scales: the window, or the most the round had in
    /// flight when that was less (never below the floor).
    fn round_base(&self) -> u64 {
        self.window().min(self.round_in_flight.unwrap_or(u64::MAX).max(self.floor()))
    }

    /// The cap's rule for one RTT sample, given the path's minimum and smoothed
    /// RTT (quinn's estimator cannot be built outside quinn, so tests drive this
    /// directly). `app_limited`: the sender did not fill the window, so a short
    /// queue says nothing about room for more.
    fn on_rtt(&mut self, now: Instant, sample: Duration, min: Duration, smoothed: Duration, app_limited: bool) {
        self.round_min = Some(self.round_min.map_or(sample, |m| m.min(sample)));
        self.smoothed = smoothed;
        let Some(end) = self.round_end else {
            self.round_end = Some(now + smoothed);
            return;
        };
        if now < end {
            return;
        }
        let queued = self.round_min.unwrap_or(sample).max(min);
        let wanted = min + self.target(min);
        let ratio = wanted.as_secs_f64() / queued.as_secs_f64().max(1e-6);
        let window = self.round_base() as f64;
        if ratio < 1.0 || (self.cap != u64::MAX && !app_limited) {
            let scaled = window * (0.5 + 0.5 * ratio).clamp(0.5, 2.0);
            self.cap = (scaled as u64).max(self.floor());
        }
        self.round_end = Some(now + smoothed);
        self.round_min = None;
        self.round_in_flight = None;
        self.rounds.rotate_right(1);
        self.rounds[0] = (0, 0);
    }

    /// Share of bytes lost over the last rounds, the current one included.
    fn loss_share(&self) -> f64 {
        let (sent, lost) = self.rounds.iter().fold((0, 0), |(s, l), (rs, rl)| (s + rs, l + rl));
        if sent == 0 {
            return 1.0;
        }
        lost as f64 / sent as f64
    }
}

impl Controller for DelayCapped {
    fn on_sent(&mut self, now: Instant, bytes: u64, last_packet_number: u64) {
        self.rounds[0].0 += bytes;
        self.inner.on_sent(now, bytes, last_packet_number);
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, rtt: &RttEstimator) {
        self.inner.on_ack(now, sent, bytes, app_limited, rtt);
        self.batch_acked += bytes;
        // This packet's own RTT (quinn's latest sample is private); ack delay
        // included, which the round's least sample filters out.
        self.on_rtt(now, now.saturating_duration_since(sent), rtt.min(), rtt.get(), app_limited);
    }

    fn on_end_acks(&mut self, now: Instant, in_flight: u64, app_limited: bool, largest_packet_num_acked: Option<u64>) {
        let before = in_flight + std::mem::take(&mut self.batch_acked);
        self.round_in_flight = Some(self.round_in_flight.map_or(before, |m| m.max(before)));
        self.inner.on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, is_persistent_congestion: bool, lost_bytes: u64) {
        self.rounds[0].1 += lost_bytes;
        let lost: u64 = self.rounds.iter().map(|r| r.1).sum();
        let congestive = lost > LOSS_PACKETS_TOLERATED * self.mtu && self.loss_share() > self.loss_tolerance;
        if is_persistent_congestion || (congestive && self.cap == u64::MAX) {
            // No delay signal yet (slow start), or a path gone silent: CUBIC's own response.
            self.inner.on_congestion_event(now, sent, is_persistent_congestion, lost_bytes);
        } else if congestive && self.loss_cut_until.is_none_or(|t| now >= t) {
            // The cap is steering: cut it as CUBIC would (× 0.7, once per round);
            // the delay rule grows it back within a few rounds once the loss stops.
            self.cap = ((self.window() as f64 * 0.7) as u64).max(self.floor());
            self.loss_cut_until = Some(now + self.smoothed);
        }
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
        Box::new(DelayCapped {
            inner: self.inner.clone_box(),
            cap: self.cap,
            mtu: self.mtu,
            min_target: self.min_target,
            rtt_share: self.rtt_share,
            loss_tolerance: self.loss_tolerance,
            round_end: self.round_end,
            round_min: self.round_min,
            round_in_flight: self.round_in_flight,
            batch_acked: self.batch_acked,
            rounds: self.rounds,
            smoothed: self.smoothed,
            loss_cut_until: self.loss_cut_until,
        })
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

    /// min target 1 ms, a quarter of the min RTT, 2 % loss tolerated.
    fn capped(inner_window: u64) -> DelayCapped {
        DelayCapped {
            inner: Box::new(Fixed(inner_window)),
            cap: u64::MAX,
            mtu: MTU as u64,
            min_target: Duration::from_millis(1),
            rtt_share: 0.25,
            loss_tolerance: 0.02,
            round_end: None,
            round_min: None,
            round_in_flight: None,
            batch_acked: 0,
            rounds: [(0, 0); LOSS_ROUNDS],
            smoothed: Duration::ZERO,
            loss_cut_until: None,
        }
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

    /// One round of 20 ms (min RTT 20 ms) whose least sample is `least`: the
    /// round opened at `start` ends with the sample at `start + 20`.
    fn round(cc: &mut DelayCapped, at: &impl Fn(u64) -> Instant, start: u64, least: Duration, others: Duration) {
        cc.on_rtt(at(start), others, ms(20), ms(20), false);
        cc.on_rtt(at(start + 5), least, ms(20), ms(20), false);
        cc.on_rtt(at(start + 20), others, ms(20), ms(20), false);
    }

    #[test]
    fn without_queueing_delay_the_inner_window_is_used() {
        let at = clock();
        let mut cc = capped(1_000_000);
        // min 20 ms: the target is 5 ms, so rounds whose least sample is 25 ms are no queue.
        for i in 0..20 {
            round(&mut cc, &at, i * 20, ms(25), ms(40));
        }
        assert_eq!(cc.window(), 1_000_000);
    }

    #[test]
    fn a_standing_queue_cuts_the_window_half_way_to_its_target_but_never_by_more_than_half() {
        let at = clock();
        let mut cc = capped(1_000_000);
        round(&mut cc, &at, 0, ms(50), ms(50));
        // (20 + 5) / 50 = 0.5 of the way: ½ + ½ × 0.5 = 0.75 of the window.
        assert_near(cc.window(), 750_000);
        let mut cc = capped(1_000_000);
        round(&mut cc, &at, 0, ms(2000), ms(2000));
        assert_near(cc.window(), 506_250);
        round(&mut cc, &at, 20, ms(10_000), ms(10_000));
        assert!(cc.window() >= 253_125 && cc.window() < 254_000, "at most half goes in one round: {}", cc.window());
    }

    #[test]
    fn one_delayed_sample_in_a_round_is_not_a_queue() {
        let at = clock();
        let mut cc = capped(1_000_000);
        // A descheduled thread: one 80 ms sample, the round's least is 21 ms.
        round(&mut cc, &at, 0, ms(21), ms(80));
        assert_eq!(cc.window(), 1_000_000);
    }

    #[test]
    fn the_cap_follows_what_was_in_flight_not_a_window_the_sender_never_filled() {
        let at = clock();
        // CUBIC's window grew to 1 GB without loss, but only 2 MB were ever in flight.
        let mut cc = capped(1_000_000_000);
        cc.on_end_acks(at(0), 2_000_000, false, Some(1));
        round(&mut cc, &at, 0, ms(50), ms(50));
        // ¾ of the 2 MB in flight, not ¾ of 1 GB.
        assert_near(cc.window(), 1_500_000);
        // Without a queue it grows from what is in flight, at most doubling.
        cc.on_end_acks(at(21), 1_400_000, false, Some(2));
        round(&mut cc, &at, 20, ms(20), ms(20));
        assert_near(cc.window(), 1_400_000 * 9 / 8);
        // A round with no ack batch seen keeps the window as the base.
        let before = cc.window();
        round(&mut cc, &at, 40, ms(20), ms(20));
        assert_near(cc.window(), before * 9 / 8);
    }

    #[test]
    fn once_the_queue_drains_the_cap_grows_back_to_the_inner_window() {
        let at = clock();
        let mut cc = capped(1_000_000);
        round(&mut cc, &at, 0, ms(50), ms(50));
        let cut = cc.window();
        assert!(cut < 1_000_000);
        round(&mut cc, &at, 20, ms(20), ms(20));
        // No queue: ½ + ½ × 25 / 20 = 1.125 per round.
        assert_near(cc.window(), cut * 9 / 8);
        for i in 2..40 {
            round(&mut cc, &at, i * 20, ms(20), ms(20));
        }
        assert_eq!(cc.window(), 1_000_000, "the inner window bounds the cap");
    }

    #[test]
    fn an_app_limited_sender_does_not_grow_the_cap() {
        let at = clock();
        let mut cc = capped(1_000_000);
        round(&mut cc, &at, 0, ms(50), ms(50));
        let cut = cc.window();
        for i in 1..10 {
            cc.on_rtt(at(i * 20 + 5), ms(20), ms(20), ms(20), true);
            cc.on_rtt(at(i * 20 + 20), ms(20), ms(20), ms(20), true);
        }
        assert_eq!(cc.window(), cut);
    }

    #[test]
    fn on_short_paths_the_configured_target_applies() {
        let at = clock();
        let us = Duration::from_micros;
        let mut cc = capped(1_000_000);
        // min 100 µs: the 1 ms target is larger than a quarter of it, so 1.1 ms is still no queue.
        cc.on_rtt(at(0), us(100), us(100), us(100), false);
        cc.on_rtt(at(1), us(1_100), us(100), us(100), false);
        assert_eq!(cc.window(), 1_000_000);
        cc.on_rtt(at(2), us(2_200), us(100), us(100), false);
        // (0.1 + 1) / 2.2 = 0.5: three quarters of the window.
        assert_near(cc.window(), 750_000);
    }

    #[test]
    fn the_window_never_falls_below_sixteen_packets() {
        let at = clock();
        let mut cc = capped(1_000_000);
        for i in 0..40 {
            round(&mut cc, &at, i * 20, ms(1000), ms(1000));
        }
        assert_eq!(cc.window(), FLOOR);
        cc.on_mtu_update(1500);
        assert_eq!(cc.window(), 16 * 1500);
        // A copy (quinn clones controllers) carries the cap.
        assert_eq!(cc.clone_box().window(), cc.window());
        assert_eq!(cc.metrics().congestion_window, cc.window());
    }

    #[test]
    fn random_loss_below_the_tolerance_does_not_shrink_the_window() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_sent(at(0), 1_000_000, 1);
        // 1 % of what was sent: a lossy hop, not a full queue.
        cc.on_congestion_event(at(1), at(0), false, 10_000);
        assert_eq!(cc.window(), 1_000_000);
        // Past 2 %: congestion, CUBIC cuts.
        cc.on_congestion_event(at(2), at(0), false, 20_000);
        assert_eq!(cc.window(), 500_000);
        // Two lost packets out of very few sent: too few to call it congestion.
        let mut cc = capped(1_000_000);
        cc.on_sent(at(0), 12_000, 1);
        cc.on_congestion_event(at(1), at(0), false, 2 * MTU as u64);
        assert_eq!(cc.window(), 1_000_000);
        cc.on_congestion_event(at(2), at(0), false, MTU as u64);
        assert_eq!(cc.window(), 500_000, "a third lost packet out of ten is congestion");
        // Persistent congestion always reaches CUBIC.
        let mut cc = capped(1_000_000);
        cc.on_sent(at(0), 1_000_000, 1);
        cc.on_congestion_event(at(1), at(0), true, 1_200);
        assert_eq!(cc.window(), 500_000);
    }

    #[test]
    fn once_delay_steers_congestive_loss_cuts_the_cap_once_per_round_and_cubic_keeps_its_window() {
        let at = clock();
        let mut cc = capped(1_000_000);
        round(&mut cc, &at, 0, ms(50), ms(50));
        assert_near(cc.window(), 750_000);
        cc.on_sent(at(21), 100_000, 1);
        cc.on_congestion_event(at(22), at(21), false, 10_000);
        assert_near(cc.window(), 525_000);
        cc.on_congestion_event(at(30), at(21), false, 10_000);
        assert_near(cc.window(), 525_000);
        cc.on_congestion_event(at(43), at(21), false, 10_000);
        assert_near(cc.window(), 367_500);
        assert_eq!(cc.inner.window(), 1_000_000);
    }

    #[test]
    fn the_loss_share_forgets_rounds_older_than_the_last_few() {
        let at = clock();
        let mut cc = capped(1_000_000);
        cc.on_sent(at(0), 100_000, 1);
        cc.on_congestion_event(at(1), at(0), false, 1_500);
        assert_eq!(cc.window(), 1_000_000, "1.5 % is tolerated");
        for i in 0..LOSS_ROUNDS as u64 {
            cc.on_sent(at(i * 20 + 1), 100_000, 2);
            round(&mut cc, &at, i * 20, ms(20), ms(20));
        }
        cc.on_sent(at(200), 100_000, 3);
        cc.on_congestion_event(at(201), at(200), false, 1_500);
        assert_eq!(cc.window(), 1_000_000, "the old loss no longer counts");
    }

    #[test]
    fn the_default_controller_wraps_cubic_and_starts_at_least_at_the_floor() {
        let at = clock();
        let cc = Arc::new(DelayCappedConfig::new(Duration::from_millis(1), 0.25, 0.02)).build(at(0), MTU);
        assert!(cc.window() >= FLOOR);
        assert!(cc.window() >= cc.initial_window());
        assert_eq!(cc.metrics().congestion_window, cc.window());
    }
}
