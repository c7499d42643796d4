//! Colour reductions: pure per-pixel functions. Quantisation rounds to the
//! nearest level (not truncation) so mid-greys stay mid-grey, and every level
//! maps back onto the full 0..=255 range so white stays white.

use super::ColorMode;

/// The 16 VGA text-mode colours, in their palette order (ties in the nearest search go to the earlier one).
pub const VGA_PALETTE: [[u8; 3]; 16] = [
    [0, 0, 0],
    [0, 0, 170],
    [0, 170, 0],
    [0, 170, 170],
    [170, 0, 0],
    [170, 0, 170],
    [170, 85, 0],
    [170, 170, 170],
    [85, 85, 85],
    [85, 85, 255],
    [85, 255, 85],
    [85, 255, 255],
    [255, 85, 85],
    [255, 85, 255],
    [255, 255, 85],
    [255, 255, 255],
];

/// A channel reduced to `levels` evenly spaced values, each channel value mapped to the nearest one.
const fn level_table(levels: u32) -> [u8; 256] {
    let mut t = [0u8; 256];
    let steps = levels - 1;
    let mut c = 0;
    while c < 256 {
        let q = (c as u32 * steps + 127) / 255;
        t[c] = ((q * 255 + steps / 2) / steps) as u8;
        c += 1;
    }
    t
}

/// 3 bits (8 levels), for red and green in the 256-colour mode.
static LEVELS_8: [u8; 256] = level_table(8);
/// 2 bits (4 levels), for blue in the 256-colour mode and every channel in the 64-colour mode.
static LEVELS_4: [u8; 256] = level_table(4);

/// BT.601 luma (0.299 R + 0.587 G + 0.114 B) in 16-bit fixed point; the
/// weights sum to 65,536 so white stays 255.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((19_595 * r as u32 + 38_470 * g as u32 + 7_471 * b as u32 + 32_768) >> 16) as u8
}

#[inline]
fn nearest_vga(p: [u8; 3]) -> [u8; 3] {
    let mut best = VGA_PALETTE[0];
    let mut best_d = u32::MAX;
    for c in VGA_PALETTE {
        let d = (0..3).map(|i| (p[i] as i32 - c[i] as i32).pow(2) as u32).sum::<u32>();
        if d < best_d {
            best_d = d;
            best = c;
        }
    }
    best
}

/// One pixel in `mode`. Grayscale gives R = G = B.
#[inline]
pub fn reduce_pixel(mode: ColorMode, p: [u8; 3]) -> [u8; 3] {
    match mode {
        ColorMode::Full => p,
        ColorMode::Colors256 => [LEVELS_8[p[0] as usize], LEVELS_8[p[1] as usize], LEVELS_4[p[2] as usize]],
        ColorMode::Colors64 => [LEVELS_4[p[0] as usize], LEVELS_4[p[1] as usize], LEVELS_4[p[2] as usize]],
        ColorMode::Colors16 => nearest_vga(p),
        ColorMode::Grayscale => {
            let y = luma(p[0], p[1], p[2]);
            [y, y, y]
        }
    }
}

/// RGBA8 pixels reduced in `mode`, alpha set opaque. The nearest-VGA search
/// is the slow one, so a run of equal pixels (the common case on a desktop)
/// reuses the previous answer.
pub fn reduce_rgba(rgba: &[u8], mode: ColorMode) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgba.len() / 4 * 4);
    let mut last: Option<([u8; 3], [u8; 3])> = None;
    for px in rgba.chunks_exact(4) {
        let p = [px[0], px[1], px[2]];
        let r = match last {
            Some((from, to)) if from == p => to,
            _ => {
                let to = reduce_pixel(mode, p);
                last = Some((p, to));
                to
            }
        };
        out.extend_from_slice(&[r[0], r[1], r[2], 255]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every 24-bit colour on a coarse lattice plus the extremes: 4,913 + 2 pixels.
    fn lattice() -> Vec<u8> {
        let mut v = vec![];
        for r in (0..=256u32).step_by(16) {
            for g in (0..=256u32).step_by(16) {
                for b in (0..=256u32).step_by(16) {
                    v.extend_from_slice(&[r.min(255) as u8, g.min(255) as u8, b.min(255) as u8, 255]);
                }
            }
        }
        v.extend_from_slice(&[1, 2, 3, 255, 254, 253, 252, 255]);
        v
    }

    fn distinct(rgba: &[u8]) -> HashSet<[u8; 3]> {
        rgba.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect()
    }

    #[test]
    fn each_mode_really_reduces_to_at_most_its_number_of_colours() {
        let src = lattice();
        assert!(distinct(&src).len() > 4000);
        for (mode, n) in [(ColorMode::Colors256, 256), (ColorMode::Colors64, 64), (ColorMode::Colors16, 16), (ColorMode::Grayscale, 256)] {
            let out = reduce_rgba(&src, mode);
            assert_eq!(out.len(), src.len());
            let got = distinct(&out);
            assert!(got.len() <= n, "{mode:?}: {} colours", got.len());
            assert!(got.len() >= n / 4, "{mode:?} uses its range: {} colours", got.len());
            assert!(out.chunks_exact(4).all(|p| p[3] == 255));
        }
        assert_eq!(distinct(&reduce_rgba(&src, ColorMode::Full)), distinct(&src));
    }

    #[test]
    fn grayscale_has_equal_channels_and_bt601_weights() {
        for p in reduce_rgba(&lattice(), ColorMode::Grayscale).chunks_exact(4) {
            assert!(p[0] == p[1] && p[1] == p[2]);
        }
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 0, 0), 76); // 0.299 × 255 = 76.2
        assert_eq!(luma(0, 255, 0), 150); // 0.587 × 255 = 149.7
        assert_eq!(luma(0, 0, 255), 29); // 0.114 × 255 = 29.1
    }

    #[test]
    fn quantisation_keeps_black_white_and_rounds_to_the_nearest_level() {
        for mode in [ColorMode::Colors256, ColorMode::Colors64, ColorMode::Colors16] {
            assert_eq!(reduce_pixel(mode, [0, 0, 0]), [0, 0, 0]);
            assert_eq!(reduce_pixel(mode, [255, 255, 255]), [255, 255, 255]);
        }
        assert_eq!(reduce_pixel(ColorMode::Colors64, [40, 45, 130]), [0, 85, 170]);
        assert_eq!(reduce_pixel(ColorMode::Colors256, [36, 37, 200]), [36, 36, 170]);
        // Only the 3-bit levels for red and green, the 2-bit ones for blue.
        let reds: HashSet<u8> = (0..=255).map(|c| reduce_pixel(ColorMode::Colors256, [c, 0, 0])[0]).collect();
        let blues: HashSet<u8> = (0..=255).map(|c| reduce_pixel(ColorMode::Colors256, [0, 0, c])[2]).collect();
        assert_eq!((reds.len(), blues.len()), (8, 4));
    }

    #[test]
    fn the_16_colour_mode_picks_the_nearest_vga_colour() {
        assert_eq!(reduce_pixel(ColorMode::Colors16, [160, 160, 175]), [170, 170, 170]);
        assert_eq!(reduce_pixel(ColorMode::Colors16, [250, 240, 90]), [255, 255, 85]);
        assert_eq!(reduce_pixel(ColorMode::Colors16, [10, 0, 150]), [0, 0, 170]);
        // A brute-force check that nothing nearer exists.
        for p in lattice().chunks_exact(4) {
            let p = [p[0], p[1], p[2]];
            let got = reduce_pixel(ColorMode::Colors16, p);
            let d = |c: [u8; 3]| (0..3).map(|i| (p[i] as i32 - c[i] as i32).pow(2)).sum::<i32>();
            assert!(VGA_PALETTE.iter().all(|&c| d(got) <= d(c)));
            assert!(VGA_PALETTE.contains(&got));
        }
    }
}
