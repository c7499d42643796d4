//! One tile in, one encoded tile out: SOLID when the (reduced) tile is one
//! colour, JPEG for busy tiles when the settings allow lossy, else PNG in the
//! smallest form that is still exact (a palette at 1, 2, 4 or 8 bits, 8-bit gray, or RGB).
//!
//! Speed matters more than the last byte (a 64×64 tile should take well under
//! a millisecond): PNG uses fdeflate's fast mode, colour counting uses a fixed
//! open-addressed table on the stack, and a tile costs a few buffer
//! allocations, never one per pixel.

use super::{color, ColorMode, Settings};

/// The tile encodings of the render stream (`docs/protocol.md` §RDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Png = 1,
    Jpeg = 2,
    /// 4 bytes R, G, B, A: the whole tile one colour.
    Solid = 3,
}

impl Encoding {
    pub fn from_byte(b: u8) -> Option<Encoding> {
        match b {
            1 => Some(Encoding::Png),
            2 => Some(Encoding::Jpeg),
            3 => Some(Encoding::Solid),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedTile {
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}

impl EncodedTile {
    fn solid(rgb: [u8; 3]) -> EncodedTile {
        EncodedTile { encoding: Encoding::Solid, bytes: vec![rgb[0], rgb[1], rgb[2], 255] }
    }
}

/// Slots of the colour table: four times the largest palette, so probes stay short.
const SLOTS: usize = 1024;
/// The most colours a PNG palette holds.
const MAX_PALETTE: usize = 256;

/// A set of up to [`MAX_PALETTE`] RGB colours, each with its palette index, on the stack.
struct ColorTable {
    /// `rgb + 1` (so 0 means empty) per slot.
    keys: [u32; SLOTS],
    index: [u8; SLOTS],
    palette: Vec<u8>,
    len: usize,
}

impl ColorTable {
    fn new() -> ColorTable {
        ColorTable { keys: [0; SLOTS], index: [0; SLOTS], palette: Vec::new(), len: 0 }
    }

    /// The colour's palette index, adding it when new; `None` once more than `limit` colours were seen.
    #[inline]
    fn insert(&mut self, rgb: [u8; 3], limit: usize, keep_palette: bool) -> Option<u8> {
        let key = (u32::from(rgb[0]) << 16 | u32::from(rgb[1]) << 8 | u32::from(rgb[2])) + 1;
        let mut slot = (key.wrapping_mul(0x9E37_79B1) >> 22) as usize;
        loop {
            match self.keys[slot] {
                0 => {
                    if self.len >= limit {
                        return None;
                    }
                    self.keys[slot] = key;
                    // The limit is at most MAX_PALETTE, so the index fits a byte.
                    self.index[slot] = self.len as u8;
                    self.len += 1;
                    if keep_palette {
                        self.palette.extend_from_slice(&rgb);
                    }
                    return Some(self.index[slot]);
                }
                k if k == key => return Some(self.index[slot]),
                _ => slot = (slot + 1) % SLOTS,
            }
        }
    }
}

/// How many distinct RGB colours (alpha ignored) `rgba` has, counting stops at `limit + 1`.
pub fn distinct_colors_up_to(rgba: &[u8], limit: usize) -> usize {
    let limit = limit.min(MAX_PALETTE);
    let mut table = ColorTable::new();
    let mut last = None;
    for px in rgba.chunks_exact(4) {
        let p = [px[0], px[1], px[2]];
        if last == Some(p) {
            continue;
        }
        last = Some(p);
        if table.insert(p, limit, false).is_none() {
            return limit + 1;
        }
    }
    table.len
}

/// Encodes one tile. `rgba`: the tile's pixels, tightly packed RGBA8,
/// `w * h * 4` bytes (alpha ignored: the desktop is opaque). A buffer shorter
/// than that, or an empty tile, is the caller's bug; it comes out as a black
/// SOLID tile rather than a panic in the desktop task.
pub fn encode_tile(rgba: &[u8], w: u16, h: u16, s: &Settings) -> EncodedTile {
    let n = usize::from(w) * usize::from(h);
    let Some(src) = rgba.get(..n * 4).filter(|_| n > 0) else {
        return EncodedTile::solid([0, 0, 0]);
    };
    let busy_limit = s.profile.table().busy_colors;
    let lossy = s.jpeg_quality > 0 && busy_limit < u32::MAX && distinct_colors_up_to(src, busy_limit as usize) > busy_limit as usize;
    if s.color_mode == ColorMode::Grayscale {
        return encode_gray(src, w, h, lossy.then_some(s.jpeg_quality));
    }
    if lossy && s.color_mode == ColorMode::Full {
        // A busy tile has more than one colour, so it is not SOLID: straight to JPEG.
        if let Some(jpeg) = jpeg(src, w, h, jpeg_encoder::ColorType::Rgba, s.jpeg_quality) {
            return jpeg;
        }
    }
    let reduced;
    let pixels = if s.color_mode == ColorMode::Full {
        src
    } else {
        reduced = color::reduce_rgba(src, s.color_mode);
        &reduced[..]
    };
    let palette = index_colors(pixels);
    if let Some((palette, _)) = &palette {
        if palette.len() == 3 {
            return EncodedTile::solid([palette[0], palette[1], palette[2]]);
        }
    }
    if lossy {
        if let Some(jpeg) = jpeg(pixels, w, h, jpeg_encoder::ColorType::Rgba, s.jpeg_quality) {
            return jpeg;
        }
    }
    let png = match palette {
        Some((palette, indices)) => png_indexed(&palette, &indices, w, h),
        None => {
            let rgb: Vec<u8> = pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            png_bytes(&rgb, w, h, png::ColorType::Rgb, png::BitDepth::Eight, None)
        }
    };
    png.map(|bytes| EncodedTile { encoding: Encoding::Png, bytes }).unwrap_or_else(|| EncodedTile::solid([0, 0, 0]))
}

fn encode_gray(src: &[u8], w: u16, h: u16, jpeg_quality: Option<u8>) -> EncodedTile {
    let gray: Vec<u8> = src.chunks_exact(4).map(|p| color::luma(p[0], p[1], p[2])).collect();
    if gray.iter().all(|&y| y == gray[0]) {
        return EncodedTile::solid([gray[0]; 3]);
    }
    if let Some(q) = jpeg_quality {
        if let Some(jpeg) = jpeg(&gray, w, h, jpeg_encoder::ColorType::Luma, q) {
            return jpeg;
        }
    }
    // Text and UI in gray have few levels: a gray palette at 1, 2 or 4 bits is far smaller than 8-bit gray.
    let png = match gray_palette(&gray) {
        Some((palette, indices)) => png_indexed(&palette, &indices, w, h),
        None => png_bytes(&gray, w, h, png::ColorType::Grayscale, png::BitDepth::Eight, None),
    };
    png.map(|bytes| EncodedTile { encoding: Encoding::Png, bytes }).unwrap_or_else(|| EncodedTile::solid([0, 0, 0]))
}

/// A palette of the gray levels (as RGB triples with R = G = B) and one index per pixel, or `None` above 16 levels.
fn gray_palette(gray: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const MAX_LEVELS: usize = 16;
    let mut index = [u8::MAX; 256];
    let mut palette = Vec::with_capacity(MAX_LEVELS * 3);
    let mut indices = Vec::with_capacity(gray.len());
    for &y in gray {
        if index[usize::from(y)] == u8::MAX {
            if palette.len() == MAX_LEVELS * 3 {
                return None;
            }
            index[usize::from(y)] = (palette.len() / 3) as u8;
            palette.extend_from_slice(&[y, y, y]);
        }
        indices.push(index[usize::from(y)]);
    }
    Some((palette, indices))
}

/// The palette (RGB triples) and one index per pixel, or `None` above 256 colours.
fn index_colors(rgba: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut table = ColorTable::new();
    let mut indices = Vec::with_capacity(rgba.len() / 4);
    let mut last: Option<([u8; 3], u8)> = None;
    for px in rgba.chunks_exact(4) {
        let p = [px[0], px[1], px[2]];
        let i = match last {
            Some((q, i)) if q == p => i,
            _ => {
                let i = table.insert(p, MAX_PALETTE, true)?;
                last = Some((p, i));
                i
            }
        };
        indices.push(i);
    }
    Some((table.palette, indices))
}

/// An indexed PNG at the smallest bit depth its palette allows (1, 2, 4 or 8 bits per pixel).
fn png_indexed(palette: &[u8], indices: &[u8], w: u16, h: u16) -> Option<Vec<u8>> {
    let colors = palette.len() / 3;
    let (depth, bits) = match colors {
        0..=2 => (png::BitDepth::One, 1),
        3..=4 => (png::BitDepth::Two, 2),
        5..=16 => (png::BitDepth::Four, 4),
        _ => (png::BitDepth::Eight, 8),
    };
    if bits == 8 {
        return png_bytes(indices, w, h, png::ColorType::Indexed, depth, Some(palette));
    }
    let per_byte = 8 / bits;
    let row_bytes = usize::from(w).div_ceil(per_byte);
    let mut packed = vec![0u8; row_bytes * usize::from(h)];
    for (row, out) in indices.chunks_exact(usize::from(w)).zip(packed.chunks_exact_mut(row_bytes)) {
        for (x, &i) in row.iter().enumerate() {
            out[x / per_byte] |= i << (8 - bits * (x % per_byte + 1));
        }
    }
    png_bytes(&packed, w, h, png::ColorType::Indexed, depth, Some(palette))
}

fn png_bytes(data: &[u8], w: u16, h: u16, color: png::ColorType, depth: png::BitDepth, palette: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2 + 128);
    let mut enc = png::Encoder::new(&mut out, u32::from(w), u32::from(h));
    enc.set_color(color);
    enc.set_depth(depth);
    enc.set_compression(png::Compression::Fast);
    // Palette indices do not predict well; Up suits photos and gradients and costs one pass.
    enc.set_filter(if palette.is_some() { png::Filter::NoFilter } else { png::Filter::Up });
    if let Some(p) = palette {
        enc.set_palette(p.to_vec());
    }
    let mut writer = enc.write_header().ok()?;
    writer.write_image_data(data).ok()?;
    writer.finish().ok()?;
    Some(out)
}

/// JPEG qualities at or above this keep full chroma resolution (4:4:4).
const FULL_CHROMA_FROM_QUALITY: u8 = 80;

fn jpeg(data: &[u8], w: u16, h: u16, color: jpeg_encoder::ColorType, quality: u8) -> Option<EncodedTile> {
    let mut out = Vec::with_capacity(usize::from(w) * usize::from(h) / 2 + 700);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    // Desktop tiles have hard colour edges that 4:2:0 smears over two pixels: full chroma where the
    // profile asks for fidelity (balanced's q85); the low-bandwidth qualities keep the smaller 4:2:0.
    if quality >= FULL_CHROMA_FROM_QUALITY {
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    }
    encoder.encode(data, w, h, color).ok()?;
    Some(EncodedTile { encoding: Encoding::Jpeg, bytes: out })
}

/// Decoding for tests: tiles back to RGBA8 with the `png` crate's decoder and `jpeg-decoder`.
#[cfg(test)]
pub(crate) mod decode {
    use super::{EncodedTile, Encoding};

    pub(crate) fn to_rgba(t: &EncodedTile, w: u16, h: u16) -> Vec<u8> {
        let n = usize::from(w) * usize::from(h);
        match t.encoding {
            Encoding::Solid => t.bytes.repeat(n),
            Encoding::Png => {
                let mut d = png::Decoder::new(std::io::Cursor::new(&t.bytes[..]));
                d.set_transformations(png::Transformations::EXPAND);
                let mut r = d.read_info().expect("png header");
                let mut buf = vec![0; r.output_buffer_size().expect("size")];
                let info = r.next_frame(&mut buf).expect("png frame");
                assert_eq!((info.width, info.height), (u32::from(w), u32::from(h)));
                assert_eq!(info.bit_depth, png::BitDepth::Eight);
                let px: Vec<[u8; 3]> = match info.color_type {
                    png::ColorType::Grayscale => buf[..n].iter().map(|&y| [y, y, y]).collect(),
                    png::ColorType::Rgb => buf[..n * 3].chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect(),
                    png::ColorType::Rgba => buf[..n * 4].chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect(),
                    other => panic!("unexpected PNG colour type {other:?}"),
                };
                px.into_iter().flat_map(|p| [p[0], p[1], p[2], 255]).collect()
            }
            Encoding::Jpeg => {
                let mut d = jpeg_decoder::Decoder::new(&t.bytes[..]);
                let px = d.decode().expect("jpeg");
                let info = d.info().expect("jpeg info");
                assert_eq!((info.width, info.height), (w, h));
                match info.pixel_format {
                    jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&y| [y, y, y, 255]).collect(),
                    jpeg_decoder::PixelFormat::RGB24 => px.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
                    other => panic!("unexpected JPEG format {other:?}"),
                }
            }
        }
    }

    /// The PNG's colour type and bit depth as written.
    pub(crate) fn png_header(bytes: &[u8]) -> (png::ColorType, png::BitDepth) {
        let r = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("png header");
        (r.info().color_type, r.info().bit_depth)
    }
}

#[cfg(test)]
pub(crate) mod samples {
    /// A window-like tile: a flat background, a title bar and anti-aliased-looking text in a handful of colours.
    pub(crate) fn ui(w: u16, h: u16) -> Vec<u8> {
        let mut v = Vec::with_capacity(usize::from(w) * usize::from(h) * 4);
        for y in 0..h {
            for x in 0..w {
                let p = match (y, (x * 7 + y * 3) % 11) {
                    (0..=7, _) => [30, 60, 120],
                    (_, 0) => [20, 20, 20],
                    (_, 1) => [128, 128, 128],
                    (_, 2) => [200, 200, 210],
                    _ => [250, 250, 250],
                };
                v.extend_from_slice(&[p[0], p[1], p[2], 255]);
            }
        }
        v
    }

    /// A photo-like tile: smooth gradients with a deterministic ripple, thousands of colours.
    pub(crate) fn photo(w: u16, h: u16) -> Vec<u8> {
        let mut v = Vec::with_capacity(usize::from(w) * usize::from(h) * 4);
        for y in 0..u32::from(h) {
            for x in 0..u32::from(w) {
                let ripple = (x * 13 + y * 7) % 9;
                v.extend_from_slice(&[(x * 3 + ripple) as u8, (y * 3 + ripple) as u8, (x + y + 40) as u8, 255]);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::super::{reduce_rgba, settings, Profile};
    use super::decode::{png_header, to_rgba};
    use super::samples::{photo, ui};
    use super::*;

    #[test]
    fn a_one_colour_tile_is_solid_also_after_reduction() {
        let t = encode_tile(&[9, 200, 30, 255].repeat(64 * 64), 64, 64, &settings(Profile::HighQuality, None));
        assert_eq!(t, EncodedTile { encoding: Encoding::Solid, bytes: vec![9, 200, 30, 255] });
        // Slightly different darks all become black in 64 colours.
        let noisy: Vec<u8> = (0..32 * 32).flat_map(|i| [(i % 20) as u8, (i % 17) as u8, 3, 255]).collect();
        let t = encode_tile(&noisy, 32, 32, &settings(Profile::LowBandwidth, None));
        assert_eq!(t, EncodedTile { encoding: Encoding::Solid, bytes: vec![0, 0, 0, 255] });
        let t = encode_tile(&[200, 10, 10, 255].repeat(4), 2, 2, &settings(Profile::EmergencyGrayscale, None));
        assert_eq!(t.bytes, vec![67, 67, 67, 255], "BT.601: 0.299 × 200 + 0.587 × 10 + 0.114 × 10 = 67.3");
    }

    #[test]
    fn lossless_tiles_decode_back_pixel_exact_for_every_profile_colour_mode_and_size() {
        for (w, h) in [(64, 64), (17, 5), (1, 1), (63, 64), (3, 40)] {
            for src in [ui(w, h), photo(w, h)] {
                for mode in ColorMode::ALL {
                    for profile in [Profile::HighQuality, Profile::TextPriority] {
                        let s = settings(profile, Some(mode));
                        let t = encode_tile(&src, w, h, &s);
                        assert_ne!(t.encoding, Encoding::Jpeg, "{profile:?} is lossless");
                        assert_eq!(to_rgba(&t, w, h), reduce_rgba(&src, mode), "{w}x{h} {mode:?} {profile:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn png_form_follows_the_colours_palette_at_the_smallest_depth_gray_for_grayscale() {
        let hq = |mode| settings(Profile::HighQuality, Some(mode));
        let two: Vec<u8> = (0..64 * 64).flat_map(|i| if i % 3 == 0 { [0, 0, 0, 255] } else { [255, 255, 255, 255] }).collect();
        let t = encode_tile(&two, 64, 64, &hq(ColorMode::Full));
        assert_eq!(png_header(&t.bytes), (png::ColorType::Indexed, png::BitDepth::One));
        let t = encode_tile(&ui(64, 64), 64, 64, &hq(ColorMode::Full));
        assert_eq!(png_header(&t.bytes), (png::ColorType::Indexed, png::BitDepth::Four));
        let t = encode_tile(&photo(64, 64), 64, 64, &hq(ColorMode::Colors256));
        assert_eq!(png_header(&t.bytes).0, png::ColorType::Indexed);
        let t = encode_tile(&photo(64, 64), 64, 64, &hq(ColorMode::Full));
        assert_eq!(png_header(&t.bytes), (png::ColorType::Rgb, png::BitDepth::Eight));
        let t = encode_tile(&photo(64, 64), 64, 64, &hq(ColorMode::Grayscale));
        assert_eq!(png_header(&t.bytes), (png::ColorType::Grayscale, png::BitDepth::Eight));
        assert!(to_rgba(&t, 64, 64).chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]));
        // Few gray levels (text): a gray palette, still gray.
        let t = encode_tile(&ui(64, 64), 64, 64, &hq(ColorMode::Grayscale));
        assert_eq!(png_header(&t.bytes), (png::ColorType::Indexed, png::BitDepth::Four));
        assert!(to_rgba(&t, 64, 64).chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn busy_tiles_go_jpeg_where_the_profile_allows_within_tolerance() {
        let src = photo(64, 64);
        assert!(distinct_colors_up_to(&src, 256) > 256);
        // Mean absolute error per channel, and the worst pixel, against the (reduced) source.
        for (profile, mean_max, worst_max) in
            [(Profile::Balanced, 2.5, 40), (Profile::LowBandwidth, 12.0, 100), (Profile::EmergencyGrayscale, 4.0, 60)]
        {
            let s = settings(profile, None);
            let t = encode_tile(&src, 64, 64, &s);
            assert_eq!(t.encoding, Encoding::Jpeg, "{profile:?}");
            let want = reduce_rgba(&src, s.color_mode);
            let got = to_rgba(&t, 64, 64);
            let diffs: Vec<u32> = got.iter().zip(&want).map(|(a, b)| u32::from(a.abs_diff(*b))).collect();
            let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
            let worst = diffs.iter().copied().max().unwrap_or(0);
            assert!(mean <= mean_max && worst <= worst_max, "{profile:?}: mean {mean:.2}, worst {worst}");
            if s.color_mode == ColorMode::Grayscale {
                assert!(got.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]), "a gray JPEG decodes gray");
            }
        }
        // Text and UI stay lossless even where lossy is allowed.
        for profile in [Profile::Balanced, Profile::LowBandwidth, Profile::EmergencyGrayscale] {
            assert_eq!(encode_tile(&ui(64, 64), 64, 64, &settings(profile, None)).encoding, Encoding::Png, "{profile:?}");
        }
    }

    #[test]
    fn a_short_buffer_or_an_empty_tile_is_a_black_solid_not_a_panic() {
        let s = settings(Profile::Balanced, None);
        for (buf, w, h) in [(vec![1u8; 10], 64, 64), (vec![], 0, 0), (vec![1u8; 16], 0, 4)] {
            assert_eq!(encode_tile(&buf, w, h, &s), EncodedTile { encoding: Encoding::Solid, bytes: vec![0, 0, 0, 255] });
        }
    }

    #[test]
    fn colour_counting_stops_past_its_limit() {
        assert_eq!(distinct_colors_up_to(&ui(64, 64), 256), 5);
        assert_eq!(distinct_colors_up_to(&photo(64, 64), 64), 65);
        assert_eq!(distinct_colors_up_to(&[], 10), 0);
    }
}
