//! The render stream's messages (`docs/protocol.md` §RDP): binary tile
//! messages in DATA frames, and the JSON `desktop`, `stats` and notice
//! messages. One frame's tiles may span several tile messages so none is
//! over a DATA frame's 1 MiB; the viewer draws a frame when the message with
//! the `last` flag arrives.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use crate::quality::{ColorMode, EncodedTile, Profile};
use crate::tiles::TileRect;

/// The first byte of a tile message (a version tag, so other binary render messages can follow).
pub const TILE_MESSAGE: u8 = 0x01;
/// `flags` bit 0: the last message of its frame.
pub const FLAG_LAST: u8 = 0x01;
/// Bytes before the first tile: tag, frame_seq, flags, captured_at_us, tile_count.
pub const MESSAGE_HEADER_LEN: usize = 1 + 4 + 1 + 8 + 2;
/// Bytes before a tile's data: x, y, w, h, encoding, len.
pub const TILE_HEADER_LEN: usize = 2 * 4 + 1 + 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub rect: TileRect,
    pub encoded: EncodedTile,
}

/// One frame as tile messages, each at most `session_frame::MAX_DATA_LEN`
/// bytes, in tile order, bit 0 of flags on the last. A frame with no tiles
/// is one empty message (the viewer still acknowledges it). A tile too big
/// for any message cannot come from `encode_tile` (a 64×64 tile's worst PNG
/// is about 17 KiB); it is left out rather than breaking the frame limit.
pub fn encode_frame(seq: u32, captured_at_us: u64, tiles: &[Tile]) -> Vec<Bytes> {
    encode_frame_with_limit(seq, captured_at_us, tiles, session_frame::MAX_DATA_LEN)
}

pub(crate) fn encode_frame_with_limit(seq: u32, captured_at_us: u64, tiles: &[Tile], limit: usize) -> Vec<Bytes> {
    let fits = |t: &&Tile| MESSAGE_HEADER_LEN + TILE_HEADER_LEN + t.encoded.bytes.len() <= limit;
    let mut groups: Vec<Vec<&Tile>> = vec![vec![]];
    let mut size = MESSAGE_HEADER_LEN;
    for t in tiles.iter().filter(fits) {
        let len = TILE_HEADER_LEN + t.encoded.bytes.len();
        let current = groups.last().map_or(0, Vec::len);
        if current > 0 && (size + len > limit || current == usize::from(u16::MAX)) {
            groups.push(vec![]);
            size = MESSAGE_HEADER_LEN;
        }
        size += len;
        if let Some(g) = groups.last_mut() {
            g.push(t);
        }
    }
    let count = groups.len();
    groups.into_iter().enumerate().map(|(i, g)| message(seq, captured_at_us, i + 1 == count, &g)).collect()
}

fn message(seq: u32, captured_at_us: u64, last: bool, tiles: &[&Tile]) -> Bytes {
    let body: usize = tiles.iter().map(|t| TILE_HEADER_LEN + t.encoded.bytes.len()).sum();
    let mut out = BytesMut::with_capacity(MESSAGE_HEADER_LEN + body);
    out.put_u8(TILE_MESSAGE);
    out.put_u32(seq);
    out.put_u8(if last { FLAG_LAST } else { 0 });
    out.put_u64(captured_at_us);
    // Groups hold at most u16::MAX tiles, and each tile under 1 MiB (see encode_frame_with_limit).
    out.put_u16(tiles.len() as u16);
    for t in tiles {
        out.put_u16(t.rect.x);
        out.put_u16(t.rect.y);
        out.put_u16(t.rect.w);
        out.put_u16(t.rect.h);
        out.put_u8(t.encoded.encoding as u8);
        out.put_u32(t.encoded.bytes.len() as u32);
        out.put_slice(&t.encoded.bytes);
    }
    out.freeze()
}

/// `{"type":"desktop",…}`: sent first on the render stream and again whenever a field changes.
pub fn desktop_message(
    width: u16,
    height: u16,
    profile: Profile,
    color_mode: ColorMode,
    fps: u32,
    adjustable: bool,
    resizable: bool,
) -> Value {
    json!({
        "type": "desktop",
        "width": width,
        "height": height,
        "profile": profile.as_str(),
        "color_mode": color_mode.as_str(),
        "fps": fps,
        "adjustable": adjustable,
        "resizable": resizable,
    })
}

/// What a `stats` message reports (every 2 s while attached).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub fps: f64,
    pub bytes_per_s: u64,
    pub encode_ms_p95: f64,
    pub frames_dropped: u64,
    pub tiles_superseded: u64,
    pub rtt_ms: f64,
    pub profile: Profile,
    pub color_mode: ColorMode,
}

/// `{"type":"stats",…}`; a non-finite number (nothing measured yet) is sent as 0.
pub fn stats_message(s: &Stats) -> Value {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    json!({
        "type": "stats",
        "fps": finite(s.fps),
        "bytes_per_s": s.bytes_per_s,
        "encode_ms_p95": finite(s.encode_ms_p95),
        "frames_dropped": s.frames_dropped,
        "tiles_superseded": s.tiles_superseded,
        "rtt_ms": finite(s.rtt_ms),
        "profile": s.profile.as_str(),
        "color_mode": s.color_mode.as_str(),
    })
}

/// A non-fatal notice: the spec's error event (`code`, `message_key` =
/// `errors.<code>`, `fallback_message`, `details`) in `{"type":"error"}`.
/// The session goes on.
pub fn notice(code: &str, message: &str) -> Value {
    json!({
        "type": "error",
        "error": { "code": code, "message_key": format!("errors.{code}"), "fallback_message": message, "details": {} },
    })
}

/// `{"type":"frame_ack","seq":N}` from the viewer: the frame it drew; `None` for anything else.
pub fn parse_frame_ack(msg: &serde_json::Map<String, Value>) -> Option<u32> {
    if msg.get("type")?.as_str()? != "frame_ack" {
        return None;
    }
    msg.get("seq")?.as_u64().and_then(|s| u32::try_from(s).ok())
}

/// A parser of tile messages, as the viewer reads them (tests and the golden file).
#[cfg(test)]
pub(crate) mod parse {
    use crate::quality::{EncodedTile, Encoding};
    use crate::tiles::TileRect;

    #[derive(Debug, PartialEq)]
    pub(crate) struct Message {
        pub seq: u32,
        pub last: bool,
        pub captured_at_us: u64,
        pub tiles: Vec<super::Tile>,
    }

    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!("{n} bytes wanted, {} left", b.len()));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }

    fn uint(b: &mut &[u8], n: usize) -> Result<u64, String> {
        Ok(take(b, n)?.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    }

    pub(crate) fn message(mut b: &[u8]) -> Result<Message, String> {
        let b = &mut b;
        if uint(b, 1)? != 1 {
            return Err("not a tile message".into());
        }
        let seq = uint(b, 4)? as u32;
        let flags = uint(b, 1)?;
        let captured_at_us = uint(b, 8)?;
        let count = uint(b, 2)?;
        let mut tiles = vec![];
        for _ in 0..count {
            let rect = TileRect { x: uint(b, 2)? as u16, y: uint(b, 2)? as u16, w: uint(b, 2)? as u16, h: uint(b, 2)? as u16 };
            let encoding = Encoding::from_byte(uint(b, 1)? as u8).ok_or("unknown encoding")?;
            let len = uint(b, 4)? as usize;
            tiles.push(super::Tile { rect, encoded: EncodedTile { encoding, bytes: take(b, len)?.to_vec() } });
        }
        if !b.is_empty() {
            return Err(format!("{} bytes after the last tile", b.len()));
        }
        Ok(Message { seq, last: flags & 1 == 1, captured_at_us, tiles })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{decode_for_tests as decode, encode_tile, settings, Encoding};
    use crate::tiles::{TileGrid, TILE};

    fn tile(x: u16, y: u16, len: usize) -> Tile {
        Tile { rect: TileRect { x, y, w: 64, h: 64 }, encoded: EncodedTile { encoding: Encoding::Png, bytes: vec![(x % 251) as u8; len] } }
    }

    #[test]
    fn a_frame_round_trips_through_the_viewers_parser() {
        let mut grid = TileGrid::new(200, 100);
        grid.mark_all();
        let s = settings(Profile::Balanced, None);
        let tiles: Vec<Tile> = grid
            .take()
            .into_iter()
            .map(|rect| {
                let rgba: Vec<u8> =
                    (0..u32::from(rect.w) * u32::from(rect.h)).flat_map(|i| [(i % 7 * 30) as u8, rect.x as u8, 0, 255]).collect();
                Tile { rect, encoded: encode_tile(&rgba, rect.w, rect.h, &s) }
            })
            .collect();
        let msgs = encode_frame(7, 123_456_789_012, &tiles);
        assert_eq!(msgs.len(), 1);
        let m = parse::message(&msgs[0]).expect("parses");
        assert_eq!((m.seq, m.last, m.captured_at_us), (7, true, 123_456_789_012));
        assert_eq!(m.tiles, tiles);
        for t in &m.tiles {
            assert_eq!(decode(&t.encoded, t.rect.w, t.rect.h).len(), usize::from(t.rect.w) * usize::from(t.rect.h) * 4);
        }
        assert!(m.tiles.iter().all(|t| t.rect.w <= TILE && t.rect.h <= TILE));
    }

    #[test]
    fn a_big_frame_is_split_under_1_mib_with_the_last_flag_only_at_the_end() {
        // 40 tiles of 100,000 bytes: 4 MB, so at least 4 messages.
        let tiles: Vec<Tile> = (0..40).map(|i| tile(i * 64, 0, 100_000)).collect();
        let msgs = encode_frame(42, 1, &tiles);
        assert!(msgs.len() >= 4, "{} messages", msgs.len());
        let mut seen = vec![];
        for (i, m) in msgs.iter().enumerate() {
            assert!(m.len() <= session_frame::MAX_DATA_LEN, "message {i}: {} bytes", m.len());
            assert!(session_frame::Frame::data(m.clone()).encode().is_ok());
            let p = parse::message(m).expect("parses");
            assert_eq!((p.seq, p.last), (42, i + 1 == msgs.len()));
            seen.extend(p.tiles);
        }
        assert_eq!(seen, tiles, "every tile once, in order");
    }

    #[test]
    fn splitting_fills_each_message_to_the_limit() {
        let tiles: Vec<Tile> = (0..5).map(|i| tile(i, 0, 10)).collect();
        let per_tile = TILE_HEADER_LEN + 10;
        let msgs = encode_frame_with_limit(1, 0, &tiles, MESSAGE_HEADER_LEN + 2 * per_tile);
        let counts: Vec<usize> = msgs.iter().map(|m| parse::message(m).map(|p| p.tiles.len()).unwrap_or(99)).collect();
        assert_eq!(counts, vec![2, 2, 1]);
        let oversized = encode_frame_with_limit(1, 0, &[tile(0, 0, 10), tile(1, 0, 1000)], 100);
        assert_eq!(parse::message(&oversized[0]).map(|p| p.tiles.len()), Ok(1), "an impossible tile is left out");
    }

    #[test]
    fn an_empty_frame_is_one_last_message() {
        let msgs = encode_frame(3, 9, &[]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(&msgs[0][..], &[1, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0]);
    }

    #[test]
    fn json_messages_carry_the_specs_fields() {
        let d = desktop_message(1280, 800, Profile::LowBandwidth, ColorMode::Colors64, 8, true, false);
        assert_eq!(
            d,
            serde_json::json!({"type":"desktop","width":1280,"height":800,"profile":"low_bandwidth","color_mode":"64","fps":8,"adjustable":true,"resizable":false})
        );
        let s = stats_message(&Stats {
            fps: 19.5,
            bytes_per_s: 1000,
            encode_ms_p95: f64::NAN,
            frames_dropped: 2,
            tiles_superseded: 30,
            rtt_ms: 12.0,
            profile: Profile::Balanced,
            color_mode: ColorMode::Full,
        });
        assert_eq!(s["type"], "stats");
        assert_eq!(s["encode_ms_p95"], 0.0);
        assert_eq!((s["fps"].as_f64(), s["tiles_superseded"].as_u64(), s["color_mode"].as_str()), (Some(19.5), Some(30), Some("full")));
        let n = notice("rdp.input_flood", "Too much input.");
        assert_eq!(n["type"], "error");
        assert_eq!(n["error"]["code"], "rdp.input_flood");
        assert_eq!(n["error"]["message_key"], "errors.rdp.input_flood");
        assert!(session_frame::Frame::json(&n).parse_json().is_ok());
    }

    #[test]
    fn frame_acks_parse_and_anything_else_is_none() {
        let ack = |v: Value| parse_frame_ack(v.as_object().expect("object"));
        assert_eq!(ack(serde_json::json!({"type":"frame_ack","seq":5})), Some(5));
        assert_eq!(ack(serde_json::json!({"type":"frame_ack","seq":-1})), None);
        assert_eq!(ack(serde_json::json!({"type":"frame_ack","seq":4294967296u64})), None);
        assert_eq!(ack(serde_json::json!({"type":"frame_ack"})), None);
        assert_eq!(ack(serde_json::json!({"type":"refresh","seq":5})), None);
    }
}
