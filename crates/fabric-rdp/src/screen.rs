//! The decoded framebuffer and its dirty tiles, shared by the session task
//! (which decodes graphics updates into it and marks what they touched) and
//! the pacer (which, when it may send, copies the *current* pixels of the dirty
//! tiles). A `Mutex` held only while decoding one PDU or copying tiles out, and
//! a `watch` generation counter that wakes the pacer without ever losing a wakeup.

use std::sync::{Mutex, MutexGuard};

use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_pdu::geometry::InclusiveRectangle;
use ironrdp_session::image::DecodedImage;
use tokio::sync::watch;

use crate::tiles::{copy_tile, PixelOrder, TileGrid, TileRect, TILE};

pub(crate) struct Screen {
    pub image: DecodedImage,
    tiles: TileGrid,
    /// Which 64-px tiles were painted at least once since the last resize (the "first full frame").
    painted: Vec<bool>,
    unpainted: usize,
    /// Dirty tiles marked again before the pacer took them (latest-only at work).
    pub superseded: u64,
}

impl Screen {
    fn new(width: u16, height: u16) -> Screen {
        let tiles_n = tile_count(width, height);
        let mut tiles = TileGrid::new(width, height);
        tiles.mark_all();
        Screen {
            image: DecodedImage::new(PixelFormat::RgbA32, width, height),
            tiles,
            painted: vec![false; tiles_n],
            unpainted: tiles_n,
            superseded: 0,
        }
    }

    /// Marks the tiles each region touched.
    pub fn damage(&mut self, regions: &[InclusiveRectangle]) {
        let (fw, fh) = (self.image.width(), self.image.height());
        for r in regions {
            if r.left >= fw || r.top >= fh || r.right < r.left || r.bottom < r.top {
                continue;
            }
            let right = r.right.min(fw - 1);
            let bottom = r.bottom.min(fh - 1);
            let (w, h) = (right - r.left + 1, bottom - r.top + 1);
            self.superseded += self.tiles.mark(r.left, r.top, w, h) as u64;
            let cols = usize::from(fw.div_ceil(TILE));
            for ty in usize::from(r.top / TILE)..=usize::from(bottom / TILE) {
                for tx in usize::from(r.left / TILE)..=usize::from(right / TILE) {
                    if let Some(p) = self.painted.get_mut(ty * cols + tx) {
                        if !*p {
                            *p = true;
                            self.unpainted -= 1;
                        }
                    }
                }
            }
        }
    }

    pub fn mark_all(&mut self) {
        self.tiles.mark_all();
    }

    pub fn is_dirty(&self) -> bool {
        !self.tiles.is_empty()
    }

    /// Takes the dirty tiles with their current pixels (tightly packed RGBA).
    pub fn take_dirty(&mut self) -> Vec<(TileRect, Vec<u8>)> {
        let width = self.image.width();
        let data = self.image.data();
        self.tiles.take().into_iter().map(|r| (r, copy_tile(data, width, PixelOrder::Rgba, r))).collect()
    }

    pub fn fully_painted(&self) -> bool {
        self.unpainted == 0
    }

    pub fn size(&self) -> (u16, u16) {
        (self.image.width(), self.image.height())
    }

    /// A new desktop size (reactivation): a fresh framebuffer, everything dirty.
    pub fn resize(&mut self, width: u16, height: u16) {
        *self = Screen { superseded: self.superseded, ..Screen::new(width, height) };
    }
}

fn tile_count(width: u16, height: u16) -> usize {
    usize::from(width.div_ceil(TILE)) * usize::from(height.div_ceil(TILE))
}

/// The screen and its change counter.
pub(crate) struct SharedScreen {
    screen: Mutex<Screen>,
    changed: watch::Sender<u64>,
}

impl SharedScreen {
    pub fn new(width: u16, height: u16) -> SharedScreen {
        SharedScreen { screen: Mutex::new(Screen::new(width, height)), changed: watch::Sender::new(0) }
    }

    /// Locks the screen. A poisoned lock (a panic while decoding) still holds a usable framebuffer.
    pub fn lock(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes whoever waits for changes.
    pub fn notify(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Marks everything dirty (a new attachment, a `refresh`) and wakes the pacer.
    pub fn refresh(&self) {
        self.lock().mark_all();
        self.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(left: u16, top: u16, right: u16, bottom: u16) -> InclusiveRectangle {
        InclusiveRectangle { left, top, right, bottom }
    }

    #[test]
    fn damage_marks_tiles_counts_supersession_and_tracks_the_first_full_paint() {
        let mut s = Screen::new(130, 70);
        let _ = s.take_dirty(); // the initial full refresh
        assert!(!s.is_dirty() && !s.fully_painted());
        s.damage(&[rect(0, 0, 63, 63)]);
        s.damage(&[rect(10, 10, 20, 20)]);
        assert_eq!(s.superseded, 1);
        let taken = s.take_dirty();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.len(), 64 * 64 * 4);
        s.damage(&[rect(0, 0, 129, 69), rect(500, 500, 600, 600), rect(5, 5, 2, 2)]);
        assert!(s.fully_painted());
        let taken = s.take_dirty();
        assert_eq!(taken.len(), 3 * 2);
        assert!(taken.iter().all(|(r, px)| px.len() == usize::from(r.w) * usize::from(r.h) * 4));
    }

    #[test]
    fn a_resize_starts_a_fresh_all_dirty_framebuffer() {
        let mut s = Screen::new(64, 64);
        s.damage(&[rect(0, 0, 63, 63)]);
        s.resize(200, 100);
        assert_eq!(s.size(), (200, 100));
        assert!(s.is_dirty() && !s.fully_painted());
        assert_eq!(s.take_dirty().len(), 4 * 2);
    }
}
