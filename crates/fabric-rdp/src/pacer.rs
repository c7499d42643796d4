//! The pacer: one per attachment, latest-only. It keeps no queue of encoded
//! frames: when the fps budget and the in-flight window (at most
//! [`MAX_IN_FLIGHT`] unacknowledged frames) allow, it takes the dirty tiles
//! with their *current* pixels, encodes them off the runtime threads and
//! writes tile messages. Updates that arrive meanwhile only mark tiles dirty
//! again, so under pressure stale pixels are never sent. Acks (`frame_ack` on
//! the render stream) give the RTT and acked bytes/s that, with the encode CPU
//! share, drive `quality::adapt` every stats period.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use session_frame::{write_frame, Frame, FrameType};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use crate::events::AttachmentEnd;
use crate::frames::FrameReader;
use crate::hub::{DesktopInfo, Hub};
use crate::quality::{self, Measurements, Settings};
use crate::render_wire::{self, Stats, Tile};
use crate::screen::SharedScreen;

/// Frames sent and not yet acknowledged, at most.
pub const MAX_IN_FLIGHT: usize = 2;
/// How often `stats` is sent and adaptation re-evaluated.
pub const STATS_PERIOD: Duration = Duration::from_secs(2);

/// Monotonic microseconds since the first use in this process (`captured_at_us`).
pub fn monotonic_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Back-pressure and timing counters of a desktop (cumulative over its attachments).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenderCounters {
    pub frames_sent: u64,
    pub tiles_sent: u64,
    /// Tiles marked dirty again before they were sent (latest-only superseding).
    pub tiles_superseded: u64,
    /// Screen changes that could not be sent at once (window full or fps budget): folded into a later frame.
    pub frames_skipped: u64,
    pub bytes_sent: u64,
    pub frames_acked: u64,
    pub encode_ms_total: f64,
    /// The last smoothed frame-ack round trip.
    pub rtt_ms: f64,
}

pub(crate) struct PacerContext {
    pub screen: Arc<SharedScreen>,
    pub hub: Arc<Hub>,
    pub counters: Arc<Mutex<RenderCounters>>,
}

struct InFlight {
    seq: u32,
    sent_at: Instant,
    bytes: u64,
}

/// Measurements over one stats period.
#[derive(Default)]
struct Window {
    frames: u32,
    bytes: u64,
    acked_bytes: u64,
    encode_ms: Vec<f64>,
}

struct Pacer<'a, W> {
    ctx: &'a PacerContext,
    output: &'a mut W,
    seq: u32,
    in_flight: VecDeque<InFlight>,
    next_frame_at: Instant,
    settings: Settings,
    sent_desktop: Option<Value>,
    rtt_ms: Option<f64>,
    window: Window,
    window_started: Instant,
}

/// Runs the render side of an attachment until the client goes (or is unplugged: the caller selects on that).
pub(crate) async fn run<R, W>(ctx: &PacerContext, acks: R, output: &mut W, mut notices: mpsc::UnboundedReceiver<Value>) -> AttachmentEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut acks = FrameReader::new(acks);
    let mut screen_changes = ctx.screen.subscribe();
    let mut hub_changes = ctx.hub.subscribe();
    let settings = quality::adapt(&ctx.hub.quality().base(), &Measurements::default());
    let now = Instant::now();
    let mut p = Pacer {
        ctx,
        output,
        seq: 0,
        in_flight: VecDeque::new(),
        next_frame_at: now,
        settings,
        sent_desktop: None,
        rtt_ms: None,
        window: Window::default(),
        window_started: now,
    };
    // A new attachment starts from a full refresh.
    ctx.screen.refresh();
    loop {
        if p.send_desktop_if_changed().await.is_err() {
            return AttachmentEnd::ClientGone;
        }
        if p.window_started.elapsed() >= STATS_PERIOD && p.send_stats().await.is_err() {
            return AttachmentEnd::ClientGone;
        }
        let dirty = ctx.screen.lock().is_dirty();
        let window_open = p.in_flight.len() < MAX_IN_FLIGHT;
        if dirty && window_open && Instant::now() >= p.next_frame_at {
            if p.send_frame().await.is_err() {
                return AttachmentEnd::ClientGone;
            }
            continue;
        }
        let frame_due = if dirty && window_open { p.next_frame_at } else { far_future() };
        let stats_due = p.window_started + STATS_PERIOD;
        tokio::select! {
            frame = acks.next() => match frame {
                Ok(Some(frame)) => p.on_client_frame(&frame),
                _ => return AttachmentEnd::ClientGone,
            },
            changed = screen_changes.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
                if !window_open || Instant::now() < p.next_frame_at {
                    p.count(|c| c.frames_skipped += 1);
                }
            }
            changed = hub_changes.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
                hub_changes.borrow_and_update();
                p.readapt();
            }
            Some(message) = notices.recv() => {
                if p.write_json(&message).await.is_err() {
                    return AttachmentEnd::ClientGone;
                }
            }
            _ = tokio::time::sleep_until(TokioInstant::from_std(frame_due.min(stats_due))) => {}
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

impl<W: AsyncWrite + Unpin> Pacer<'_, W> {
    fn count(&self, f: impl FnOnce(&mut RenderCounters)) {
        f(&mut self.ctx.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn write_json(&mut self, message: &Value) -> std::io::Result<()> {
        write_frame(&mut *self.output, &Frame::json(message)).await?;
        self.output.flush().await
    }

    fn desktop_message(&self, desktop: DesktopInfo, adjustable: bool) -> Value {
        let s = &self.settings;
        render_wire::desktop_message(desktop.width, desktop.height, s.profile, s.color_mode, s.max_fps, adjustable, desktop.resizable)
    }

    async fn send_desktop_if_changed(&mut self) -> std::io::Result<()> {
        let (desktop, adjustable) = (self.ctx.hub.desktop(), self.ctx.hub.quality().adjustable);
        let message = self.desktop_message(desktop, adjustable);
        if self.sent_desktop.as_ref() != Some(&message) {
            self.write_json(&message).await?;
            self.sent_desktop = Some(message);
        }
        Ok(())
    }

    /// Takes the dirty tiles' current pixels, encodes them and writes the frame's messages.
    async fn send_frame(&mut self) -> std::io::Result<()> {
        let (raw, captured_at_us) = {
            let mut screen = self.ctx.screen.lock();
            let raw = screen.take_dirty();
            self.count(|c| c.tiles_superseded = screen.superseded);
            (raw, monotonic_us())
        };
        if raw.is_empty() {
            return Ok(());
        }
        let settings = self.settings;
        let started = Instant::now();
        // Encoding is CPU work: off the runtime's threads, so input and acks keep flowing.
        let tiles = tokio::task::spawn_blocking(move || {
            raw.into_iter()
                .map(|(rect, rgba)| Tile { rect, encoded: quality::encode_tile(&rgba, rect.w, rect.h, &settings) })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| std::io::Error::other(format!("tile encoding failed: {e}")))?;
        let encode_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.seq = self.seq.wrapping_add(1);
        let messages = render_wire::encode_frame(self.seq, captured_at_us, &tiles);
        let mut bytes = 0u64;
        for message in messages {
            bytes += message.len() as u64;
            write_frame(&mut *self.output, &Frame::data(message)).await?;
        }
        self.output.flush().await?;
        let now = Instant::now();
        self.in_flight.push_back(InFlight { seq: self.seq, sent_at: now, bytes });
        self.next_frame_at = now + Duration::from_secs_f64(1.0 / f64::from(self.settings.max_fps.max(1)));
        self.window.frames += 1;
        self.window.bytes += bytes;
        self.window.encode_ms.push(encode_ms);
        let n_tiles = tiles.len() as u64;
        self.count(|c| {
            c.frames_sent += 1;
            c.tiles_sent += n_tiles;
            c.bytes_sent += bytes;
            c.encode_ms_total += encode_ms;
        });
        Ok(())
    }

    /// Client → adapter on the render stream: only `frame_ack`. Anything else is ignored (the stream is ours to write).
    fn on_client_frame(&mut self, frame: &Frame) {
        if frame.kind != FrameType::Json {
            return;
        }
        let Some(seq) = frame.parse_json().ok().and_then(|map| render_wire::parse_frame_ack(&map)) else { return };
        // An ack covers its frame and every earlier one.
        let Some(pos) = self.in_flight.iter().position(|f| f.seq == seq) else { return };
        let now = Instant::now();
        for acked in self.in_flight.drain(..=pos) {
            self.window.acked_bytes += acked.bytes;
            if acked.seq == seq {
                let sample = now.duration_since(acked.sent_at).as_secs_f64() * 1000.0;
                let rtt = self.rtt_ms.map_or(sample, |r| 0.8 * r + 0.2 * sample);
                self.rtt_ms = Some(rtt);
            }
        }
        let rtt = self.rtt_ms.unwrap_or(0.0);
        self.count(|c| {
            c.frames_acked += 1;
            c.rtt_ms = rtt;
        });
    }

    fn measurements(&self) -> Measurements {
        let secs = self.window_started.elapsed().as_secs_f64().max(0.001);
        Measurements {
            acked_bytes_per_s: self.window.acked_bytes as f64 / secs,
            rtt_ms: self.rtt_ms.unwrap_or(0.0),
            encode_cpu_share: self.window.encode_ms.iter().sum::<f64>() / 1000.0 / secs,
        }
    }

    /// Re-evaluates the effective settings (a quality change, or a new stats period).
    fn readapt(&mut self) {
        let base = self.ctx.hub.quality().base();
        self.settings = if self.window.frames == 0 {
            quality::adapt(&base, &Measurements::default())
        } else {
            quality::adapt(&base, &self.measurements())
        };
    }

    async fn send_stats(&mut self) -> std::io::Result<()> {
        let secs = self.window_started.elapsed().as_secs_f64().max(0.001);
        self.readapt();
        let counters = *self.ctx.counters.lock().unwrap_or_else(|p| p.into_inner());
        let message = render_wire::stats_message(&Stats {
            fps: f64::from(self.window.frames) / secs,
            bytes_per_s: (self.window.bytes as f64 / secs).round() as u64,
            encode_ms_p95: p95(&mut self.window.encode_ms),
            frames_dropped: counters.frames_skipped,
            tiles_superseded: counters.tiles_superseded,
            rtt_ms: self.rtt_ms.unwrap_or(0.0),
            profile: self.settings.profile,
            color_mode: self.settings.color_mode,
        });
        self.window = Window::default();
        self.window_started = Instant::now();
        self.write_json(&message).await
    }
}

fn p95(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let idx = ((samples.len() as f64) * 0.95).ceil() as usize;
    samples[idx.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_of_a_small_window() {
        assert_eq!(p95(&mut []), 0.0);
        assert_eq!(p95(&mut [3.0]), 3.0);
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&mut v), 95.0);
    }
}
