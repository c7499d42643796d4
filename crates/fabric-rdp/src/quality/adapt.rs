//! Adaptation: the profile's settings lowered to what the link and the CPU
//! can carry. Pure (measurements in, settings out, no clocks) so the pacer
//! calls it every stats interval and the tests pin every threshold.
//!
//! Each measurement gives a pressure level 0..=4; the worst one wins:
//!
//! | level | frame rate        | JPEG quality (lossy profiles only) |
//! | 0     | the profile's     | the profile's                      |
//! | 1     | ½                 | the profile's                      |
//! | 2     | ¼                 | the profile's                      |
//! | 3     | ¼                 | − 20 (not below 25)                |
//! | 4     | ⅛                 | − 35 (not below 25)                |
//!
//! Frame rate goes first because fewer frames cost nothing in sharpness
//! (latest-only tiles mean a slower pacer just merges updates); quality only
//! drops once the rate is already down. The frame rate never goes below 1 and
//! nothing ever rises above the profile.
//!
//! Thresholds:
//! - ack RTT (it includes the browser's decode and draw, so ~50 ms is normal):
//!   < 100 ms → 0, < 200 → 1, < 400 → 2, < 800 → 3, else 4.
//! - encode CPU share of one core: < 0.25 → 0, < 0.50 → 1, < 0.75 → 2, < 0.90 → 3, else 4.
//! - acked bytes/s adds one level to the RTT's only while the RTT is already
//!   raised (≥ 100 ms) and the rate is under 1 Mbit/s (125,000 B/s): few bytes
//!   with quick acks is an idle desktop, not a narrow link, and slowing down
//!   an idle desktop would only make the measured rate fall further.
//!
//! A measurement that is 0, negative or not a number counts as "not measured" (level 0).

use super::{Measurements, Settings};

/// How hard the adaptation pushed, for stats and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pressure(pub u8);

const RTT_STEPS_MS: [f64; 4] = [100.0, 200.0, 400.0, 800.0];
const CPU_STEPS: [f64; 4] = [0.25, 0.50, 0.75, 0.90];
/// 1 Mbit/s.
const NARROW_LINK_BYTES_PER_S: f64 = 125_000.0;
const FPS_DIVISOR: [u32; 5] = [1, 2, 4, 4, 8];
const QUALITY_DROP: [u8; 5] = [0, 0, 0, 20, 35];
const MIN_JPEG_QUALITY: u8 = 25;

fn measured(v: f64) -> Option<f64> {
    (v.is_finite() && v > 0.0).then_some(v)
}

fn level(v: Option<f64>, steps: &[f64; 4]) -> u8 {
    v.map_or(0, |v| steps.iter().filter(|&&s| v >= s).count() as u8)
}

impl Pressure {
    pub fn of(m: &Measurements) -> Pressure {
        let rtt = measured(m.rtt_ms);
        let mut rtt_level = level(rtt, &RTT_STEPS_MS);
        let narrow = measured(m.acked_bytes_per_s).is_some_and(|b| b < NARROW_LINK_BYTES_PER_S);
        if rtt_level > 0 && narrow {
            rtt_level = (rtt_level + 1).min(4);
        }
        Pressure(rtt_level.max(level(measured(m.encode_cpu_share), &CPU_STEPS)))
    }
}

/// The settings to use now: `base` (the profile's, with any explicit colour
/// mode) lowered by the pressure the measurements show.
pub fn adapt(base: &Settings, m: &Measurements) -> Settings {
    let p = usize::from(Pressure::of(m).0);
    let jpeg_quality = match base.jpeg_quality {
        0 => 0,
        q => q.saturating_sub(QUALITY_DROP[p]).max(MIN_JPEG_QUALITY.min(q)),
    };
    Settings { max_fps: (base.max_fps / FPS_DIVISOR[p]).max(1).min(base.max_fps.max(1)), jpeg_quality, ..*base }
}

#[cfg(test)]
mod tests {
    use super::super::{settings, ColorMode, Profile};
    use super::*;

    fn m(bytes: f64, rtt: f64, cpu: f64) -> Measurements {
        Measurements { acked_bytes_per_s: bytes, rtt_ms: rtt, encode_cpu_share: cpu }
    }

    #[test]
    fn no_measurements_or_a_healthy_link_keep_the_profile() {
        for p in Profile::ALL {
            let base = settings(p, None);
            assert_eq!(adapt(&base, &Measurements::default()), base);
            assert_eq!(adapt(&base, &m(5_000_000.0, 30.0, 0.05)), base);
            assert_eq!(adapt(&base, &m(1_000.0, 30.0, 0.05)), base, "an idle desktop is not a narrow link");
            assert_eq!(adapt(&base, &m(f64::NAN, -1.0, f64::INFINITY)), base);
        }
    }

    #[test]
    fn frame_rate_drops_first_then_jpeg_quality() {
        let base = settings(Profile::Balanced, None);
        let one = adapt(&base, &m(2e6, 150.0, 0.0));
        assert_eq!((one.max_fps, one.jpeg_quality), (10, 85));
        let two = adapt(&base, &m(2e6, 250.0, 0.0));
        assert_eq!((two.max_fps, two.jpeg_quality), (5, 85));
        let three = adapt(&base, &m(2e6, 500.0, 0.0));
        assert_eq!((three.max_fps, three.jpeg_quality), (5, 65));
        let four = adapt(&base, &m(50_000.0, 900.0, 0.0));
        assert_eq!((four.max_fps, four.jpeg_quality), (2, 50));
        assert_eq!(adapt(&base, &m(50_000.0, 150.0, 0.0)).max_fps, 5, "a slow ack on a narrow link adds a level");
        assert_eq!(adapt(&base, &m(0.0, 0.0, 0.8)).jpeg_quality, 65, "CPU alone pushes too");
    }

    #[test]
    fn lossless_profiles_stay_lossless_and_nothing_goes_below_its_floor() {
        let hq = settings(Profile::HighQuality, None);
        let worst = adapt(&hq, &m(1.0, 10_000.0, 1.0));
        assert_eq!((worst.max_fps, worst.jpeg_quality), (3, 0));
        let gray = adapt(&settings(Profile::EmergencyGrayscale, None), &m(1.0, 10_000.0, 1.0));
        assert_eq!((gray.max_fps, gray.jpeg_quality, gray.color_mode), (1, 25, ColorMode::Grayscale));
        let low = Settings { jpeg_quality: 10, ..settings(Profile::LowBandwidth, None) };
        assert_eq!(adapt(&low, &m(1.0, 10_000.0, 1.0)).jpeg_quality, 10, "never raised to the floor");
    }

    #[test]
    fn adaptation_is_monotonic_and_never_above_the_profile() {
        let rtts = [0.0, 20.0, 99.0, 100.0, 150.0, 199.0, 200.0, 399.0, 400.0, 799.0, 800.0, 5_000.0];
        let cpus = [0.0, 0.1, 0.25, 0.4, 0.5, 0.74, 0.75, 0.9, 1.0];
        let rates = [0.0, 10.0, 124_999.0, 125_000.0, 1e7];
        for p in Profile::ALL {
            for mode in [None, Some(ColorMode::Colors16)] {
                let base = settings(p, mode);
                for &b in &rates {
                    for &c in &cpus {
                        let mut prev = base;
                        for &r in &rtts {
                            let s = adapt(&base, &m(b, r, c));
                            assert!(s.max_fps <= prev.max_fps && s.jpeg_quality <= prev.jpeg_quality, "{p:?} rtt {r}");
                            assert!(s.max_fps >= 1 && s.max_fps <= base.max_fps && s.jpeg_quality <= base.jpeg_quality);
                            assert_eq!((s.profile, s.color_mode), (base.profile, base.color_mode));
                            prev = s;
                        }
                    }
                    // More CPU never helps either.
                    let by_cpu: Vec<u32> = cpus.iter().map(|&c| adapt(&base, &m(b, 120.0, c)).max_fps).collect();
                    assert!(by_cpu.windows(2).all(|w| w[1] <= w[0]), "{p:?} {by_cpu:?}");
                }
                // A narrower link never helps.
                let by_rate: Vec<u32> =
                    [1e7, 125_000.0, 124_999.0, 10.0].iter().map(|&b| adapt(&base, &m(b, 120.0, 0.0)).max_fps).collect();
                assert!(by_rate.windows(2).all(|w| w[1] <= w[0]), "{p:?} {by_rate:?}");
            }
        }
    }
}
