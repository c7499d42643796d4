//! Quality: the spec's five profiles and five colour modes as plain data,
//! the colour reductions, the tile encoder and the adaptation to measured
//! conditions. Everything here is pure (no clocks, no IO) so the desktop task
//! can call it from its pacer and the tests can pin every decision.

mod adapt;
mod color;
mod encode;

pub use adapt::{adapt, Pressure};
pub use color::{luma, reduce_pixel, reduce_rgba, VGA_PALETTE};
#[cfg(test)]
pub(crate) use encode::decode::to_rgba as decode_for_tests;
pub use encode::{distinct_colors_up_to, encode_tile, EncodedTile, Encoding};

/// The spec's quality profiles, from the lightest to the richest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    EmergencyGrayscale,
    LowBandwidth,
    TextPriority,
    #[default]
    Balanced,
    HighQuality,
}

impl Profile {
    pub const ALL: [Profile; 5] =
        [Profile::EmergencyGrayscale, Profile::LowBandwidth, Profile::TextPriority, Profile::Balanced, Profile::HighQuality];

    /// The spec name (`balanced`, `high_quality`, …); `None` for anything else.
    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::EmergencyGrayscale => "emergency_grayscale",
            Profile::LowBandwidth => "low_bandwidth",
            Profile::TextPriority => "text_priority",
            Profile::Balanced => "balanced",
            Profile::HighQuality => "high_quality",
        }
    }

    /// The profile's row of the table in the crate's README: colour mode,
    /// frame rate ceiling, JPEG quality (0 = always lossless) and the number
    /// of distinct colours (counted before any reduction) above which a tile
    /// counts as busy (a photo or video) and goes lossy when lossy is allowed.
    pub fn table(self) -> ProfileRow {
        match self {
            Profile::HighQuality => ProfileRow { color_mode: ColorMode::Full, max_fps: 30, jpeg_quality: 0, busy_colors: u32::MAX },
            Profile::Balanced => ProfileRow { color_mode: ColorMode::Full, max_fps: 20, jpeg_quality: 85, busy_colors: 256 },
            Profile::TextPriority => ProfileRow { color_mode: ColorMode::Colors256, max_fps: 15, jpeg_quality: 0, busy_colors: u32::MAX },
            Profile::LowBandwidth => ProfileRow { color_mode: ColorMode::Colors64, max_fps: 8, jpeg_quality: 50, busy_colors: 64 },
            Profile::EmergencyGrayscale => ProfileRow { color_mode: ColorMode::Grayscale, max_fps: 3, jpeg_quality: 40, busy_colors: 64 },
        }
    }
}

/// One row of the profile table (see [`Profile::table`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileRow {
    pub color_mode: ColorMode,
    pub max_fps: u32,
    pub jpeg_quality: u8,
    pub busy_colors: u32,
}

/// The spec's colour modes. Each but `Full` is a pure per-pixel reduction
/// (see [`reduce_pixel`]), applied before encoding so fewer colours compress
/// better and the viewer sees exactly the reduced picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// 24-bit colour, untouched.
    Full,
    /// 3-3-2 bits of red, green, blue.
    Colors256,
    /// 2-2-2 bits of red, green, blue.
    Colors64,
    /// The 16 VGA colours, nearest by squared RGB distance.
    Colors16,
    /// BT.601 luma, 8 bits.
    Grayscale,
}

impl ColorMode {
    pub const ALL: [ColorMode; 5] = [ColorMode::Full, ColorMode::Colors256, ColorMode::Colors64, ColorMode::Colors16, ColorMode::Grayscale];

    /// `full`, `256`, `64`, `16` or `grayscale`; `None` for anything else.
    pub fn parse(s: &str) -> Option<ColorMode> {
        ColorMode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColorMode::Full => "full",
            ColorMode::Colors256 => "256",
            ColorMode::Colors64 => "64",
            ColorMode::Colors16 => "16",
            ColorMode::Grayscale => "grayscale",
        }
    }
}

/// What the encoder and the pacer use: the profile's row, possibly with an
/// explicit colour mode, possibly lowered by [`adapt`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub profile: Profile,
    pub color_mode: ColorMode,
    pub max_fps: u32,
    /// 0 = never lossy; else the JPEG quality (1..=100) for busy tiles.
    pub jpeg_quality: u8,
}

/// The settings of a profile; an explicit colour mode (policy or runtime) overrides the profile's own.
pub fn settings(profile: Profile, color_mode: Option<ColorMode>) -> Settings {
    let row = profile.table();
    Settings { profile, color_mode: color_mode.unwrap_or(row.color_mode), max_fps: row.max_fps, jpeg_quality: row.jpeg_quality }
}

/// What the adapter measured over the last interval. Zero means "not measured yet".
#[derive(Clone, Copy, Debug, Default)]
pub struct Measurements {
    /// Bytes of frames the client acknowledged per second.
    pub acked_bytes_per_s: f64,
    /// Round-trip time from sending a frame to its `frame_ack`.
    pub rtt_ms: f64,
    /// Share of one core spent encoding tiles (0..1).
    pub encode_cpu_share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_and_colour_names_round_trip_and_unknown_names_are_refused() {
        for p in Profile::ALL {
            assert_eq!(Profile::parse(p.as_str()), Some(p));
        }
        for c in ColorMode::ALL {
            assert_eq!(ColorMode::parse(c.as_str()), Some(c));
        }
        for bad in ["", "Balanced", "balanced ", "32", "gray"] {
            assert_eq!(Profile::parse(bad), None);
            assert_eq!(ColorMode::parse(bad), None);
        }
        assert_eq!(Profile::default(), Profile::Balanced);
    }

    #[test]
    fn settings_follow_the_table_and_an_explicit_colour_mode_wins() {
        let b = settings(Profile::Balanced, None);
        assert_eq!(b, Settings { profile: Profile::Balanced, color_mode: ColorMode::Full, max_fps: 20, jpeg_quality: 85 });
        assert_eq!(settings(Profile::HighQuality, None).jpeg_quality, 0);
        assert_eq!(settings(Profile::TextPriority, None).color_mode, ColorMode::Colors256);
        assert_eq!(settings(Profile::LowBandwidth, None).max_fps, 8);
        let g = settings(Profile::EmergencyGrayscale, None);
        assert_eq!((g.color_mode, g.max_fps, g.jpeg_quality), (ColorMode::Grayscale, 3, 40));
        assert_eq!(settings(Profile::HighQuality, Some(ColorMode::Colors16)).color_mode, ColorMode::Colors16);
    }
}
