//! The dirty tile grid of one attachment: latest-only capture. A graphics
//! update marks the 64-px tiles it touches; the pacer takes the dirty set
//! when it may send and reads the *current* framebuffer for those tiles, so a
//! second update of a tile before it was sent costs nothing but a count
//! (`tiles_superseded`). Nothing here holds pixels, so memory does not grow
//! with updates however slow the client is.

/// Tile edge in desktop pixels; edge tiles are smaller.
pub const TILE: u16 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileRect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

#[derive(Clone, Debug)]
pub struct TileGrid {
    width: u16,
    height: u16,
    cols: usize,
    dirty: Vec<bool>,
    dirty_count: usize,
}

impl TileGrid {
    pub fn new(width: u16, height: u16) -> TileGrid {
        let cols = usize::from(width).div_ceil(usize::from(TILE));
        let rows = usize::from(height).div_ceil(usize::from(TILE));
        TileGrid { width, height, cols, dirty: vec![false; cols * rows], dirty_count: 0 }
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// Marks the tiles a rectangle touches (clipped to the desktop; an empty
    /// or off-screen one marks nothing). Returns how many of them were
    /// already dirty: their earlier update is superseded by this one.
    pub fn mark(&mut self, x: u16, y: u16, w: u16, h: u16) -> usize {
        let x_end = u32::from(x).saturating_add(u32::from(w)).min(u32::from(self.width));
        let y_end = u32::from(y).saturating_add(u32::from(h)).min(u32::from(self.height));
        if u32::from(x) >= x_end || u32::from(y) >= y_end {
            return 0;
        }
        let tile = u32::from(TILE);
        let (c0, c1) = ((u32::from(x) / tile) as usize, (x_end - 1) as usize / usize::from(TILE));
        let (r0, r1) = ((u32::from(y) / tile) as usize, (y_end - 1) as usize / usize::from(TILE));
        let mut superseded = 0;
        for r in r0..=r1 {
            for d in &mut self.dirty[r * self.cols + c0..=r * self.cols + c1] {
                if *d {
                    superseded += 1;
                } else {
                    *d = true;
                    self.dirty_count += 1;
                }
            }
        }
        superseded
    }

    /// Every tile dirty (a `refresh`, a new attachment, a colour mode change).
    pub fn mark_all(&mut self) {
        self.dirty.fill(true);
        self.dirty_count = self.dirty.len();
    }

    pub fn is_empty(&self) -> bool {
        self.dirty_count == 0
    }

    /// How many tiles are dirty now.
    pub fn dirty_count(&self) -> usize {
        self.dirty_count
    }

    /// The dirty tiles in row-major order, and a clean grid.
    pub fn take(&mut self) -> Vec<TileRect> {
        let out = (0..self.dirty.len()).filter(|&i| self.dirty[i]).map(|i| self.rect(i % self.cols, i / self.cols)).collect();
        self.dirty.fill(false);
        self.dirty_count = 0;
        out
    }

    /// A new desktop size: the framebuffer is new, so every tile is dirty.
    pub fn resize(&mut self, width: u16, height: u16) {
        *self = TileGrid::new(width, height);
        self.mark_all();
    }

    fn rect(&self, col: usize, row: usize) -> TileRect {
        // col < cols and row < rows, so both origins are below the u16 width and height.
        let x = (col * usize::from(TILE)) as u16;
        let y = (row * usize::from(TILE)) as u16;
        TileRect { x, y, w: TILE.min(self.width - x), h: TILE.min(self.height - y) }
    }
}

/// The byte order of a framebuffer's 4-byte pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelOrder {
    Rgba,
    /// What IronRDP's decoded image and most RDP bitmaps use.
    Bgra,
}

/// Copies a tile out of a framebuffer of `fb_width` pixels per row, 4 bytes
/// per pixel in `order`, as tightly packed opaque RGBA8 (what
/// [`crate::quality::encode_tile`] takes). Pixels outside the buffer (a
/// framebuffer shorter than the rectangle says) come out black rather than
/// a panic.
pub fn copy_tile(fb: &[u8], fb_width: u16, order: PixelOrder, r: TileRect) -> Vec<u8> {
    let row_len = usize::from(r.w) * 4;
    let mut out = vec![0u8; row_len * usize::from(r.h)];
    let stride = usize::from(fb_width) * 4;
    let x_in = usize::from(r.x.min(fb_width));
    let w_in = usize::from(r.w).min(usize::from(fb_width) - x_in);
    for (dy, dst) in out.chunks_exact_mut(row_len).enumerate() {
        let start = (usize::from(r.y) + dy) * stride + x_in * 4;
        if let Some(src) = fb.get(start..start + w_in * 4) {
            dst[..w_in * 4].copy_from_slice(src);
        }
    }
    for px in out.chunks_exact_mut(4) {
        if order == PixelOrder::Bgra {
            px.swap(0, 2);
        }
        px[3] = 255;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_desktop_on_a_64_px_grid_with_smaller_edge_tiles() {
        let mut g = TileGrid::new(130, 70);
        assert!(g.is_empty());
        g.mark_all();
        let tiles = g.take();
        assert_eq!(tiles.len(), 6);
        assert_eq!(tiles[0], TileRect { x: 0, y: 0, w: 64, h: 64 });
        assert_eq!(tiles[2], TileRect { x: 128, y: 0, w: 2, h: 64 });
        assert_eq!(tiles[5], TileRect { x: 128, y: 64, w: 2, h: 6 });
        assert_eq!(tiles.iter().map(|t| u32::from(t.w) * u32::from(t.h)).sum::<u32>(), 130 * 70);
        assert!(g.is_empty() && g.take().is_empty());
    }

    #[test]
    fn a_newer_update_supersedes_the_dirty_tiles_it_overlaps() {
        let mut g = TileGrid::new(1920, 1080);
        assert_eq!(g.mark(10, 10, 100, 20), 0, "two fresh tiles");
        assert_eq!(g.dirty_count(), 2);
        assert_eq!(g.mark(60, 0, 10, 10), 2, "the same two tiles again");
        assert_eq!(g.mark(63, 63, 2, 2), 2, "four tiles, two were dirty");
        assert_eq!(g.dirty_count(), 4);
        assert_eq!(
            g.take(),
            vec![
                TileRect { x: 0, y: 0, w: 64, h: 64 },
                TileRect { x: 64, y: 0, w: 64, h: 64 },
                TileRect { x: 0, y: 64, w: 64, h: 64 },
                TileRect { x: 64, y: 64, w: 64, h: 64 },
            ]
        );
        assert_eq!(g.mark(0, 0, 64, 64), 0, "taken tiles are clean again");
    }

    #[test]
    fn off_screen_empty_and_overflowing_rectangles_are_clipped() {
        let mut g = TileGrid::new(100, 100);
        assert_eq!(g.mark(100, 0, 10, 10) + g.mark(0, 0, 0, 10) + g.mark(5, 5, 10, 0), 0);
        assert!(g.is_empty());
        g.mark(90, 90, u16::MAX, u16::MAX);
        assert_eq!(g.take(), vec![TileRect { x: 64, y: 64, w: 36, h: 36 }]);
        let mut empty = TileGrid::new(0, 0);
        empty.mark_all();
        assert_eq!(empty.mark(0, 0, 10, 10), 0);
        assert!(empty.take().is_empty());
    }

    #[test]
    fn resize_makes_every_tile_of_the_new_size_dirty() {
        let mut g = TileGrid::new(64, 64);
        g.mark(0, 0, 1, 1);
        g.resize(200, 100);
        assert_eq!((g.width(), g.height(), g.dirty_count()), (200, 100, 8));
        assert_eq!(g.take().last(), Some(&TileRect { x: 192, y: 64, w: 8, h: 36 }));
    }

    #[test]
    fn copy_tile_swaps_bgra_forces_opaque_and_blacks_out_what_is_missing() {
        // A 3×2 framebuffer whose pixel (x, y) is B = x, G = y, R = 9, A = 0.
        let fb: Vec<u8> = (0..2u8).flat_map(|y| (0..3u8).flat_map(move |x| [x, y, 9, 0])).collect();
        let t = copy_tile(&fb, 3, PixelOrder::Bgra, TileRect { x: 1, y: 0, w: 2, h: 2 });
        assert_eq!(t, vec![9, 0, 1, 255, 9, 0, 2, 255, 9, 1, 1, 255, 9, 1, 2, 255]);
        let t = copy_tile(&fb, 3, PixelOrder::Rgba, TileRect { x: 2, y: 1, w: 2, h: 2 });
        assert_eq!(t, vec![2, 1, 9, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
        let t = copy_tile(&fb[..5], 3, PixelOrder::Rgba, TileRect { x: 5, y: 5, w: 1, h: 1 });
        assert_eq!(t, vec![0, 0, 0, 255]);
    }
}
