//! The golden file of the RDP wire formats the viewer reads and writes
//! (`fixtures/rdp-wire/golden.json`): tile messages and input batches with
//! their exact bytes and what they mean. The viewer's TypeScript codec is
//! tested against the same file. The file must match what this code
//! produces; after a deliberate change, regenerate it with
//! `UPDATE_GOLDEN=1 cargo test -p fabric-rdp wire_golden` and format it with
//! `scripts/lint --fix`.

use serde_json::{json, Value};

use crate::input_wire::{parse_batch, InputEvent, MouseButton, EXTENDED};
use crate::quality::{encode_tile, settings, ColorMode, Encoding, Profile};
use crate::render_wire::{desktop_message, encode_frame, encode_frame_with_limit, notice, parse, stats_message, Stats, Tile};
use crate::tiles::TileRect;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/rdp-wire/golden.json");

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).filter_map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Png => "png",
        Encoding::Jpeg => "jpeg",
        Encoding::Solid => "solid",
    }
}

/// A tile and, for PNG tiles, the pixels it decodes to.
type Sample = (Tile, Option<Vec<u8>>);
/// A named frame: its messages and the samples whose tiles they carry, in order.
type Case<'a> = (&'static str, Vec<Vec<u8>>, Vec<&'a Sample>);

/// A tile of `rgba` encoded with `s`; lossless tiles also carry the pixels they decode to.
fn tile(x: u16, y: u16, w: u16, h: u16, rgba: &[u8], profile: Profile, mode: Option<ColorMode>) -> Sample {
    let s = settings(profile, mode);
    let encoded = encode_tile(rgba, w, h, &s);
    // SOLID tiles say their colour in their 4 bytes; JPEG ones are lossy.
    let pixels = (encoded.encoding == Encoding::Png).then(|| crate::quality::reduce_rgba(rgba, s.color_mode));
    (Tile { rect: TileRect { x, y, w, h }, encoded }, pixels)
}

fn tile_json(t: &Tile, pixels: &Option<Vec<u8>>) -> Value {
    let mut v = json!({
        "x": t.rect.x, "y": t.rect.y, "w": t.rect.w, "h": t.rect.h,
        "encoding": encoding_name(t.encoded.encoding), "encoding_byte": t.encoded.encoding as u8,
        "bytes_hex": hex(&t.encoded.bytes),
    });
    if let (Some(p), Some(obj)) = (pixels, v.as_object_mut()) {
        obj.insert("rgba_hex".into(), Value::from(hex(p)));
    }
    v
}

fn tile_messages() -> Value {
    let px = |colors: &[[u8; 3]], n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let c = colors[i * 7 % colors.len()];
                [c[0], c[1], c[2], 255]
            })
            .collect()
    };
    // Every pixel a different colour (x and y each in their own channel).
    let busy =
        |w: u32, h: u32| -> Vec<u8> { (0..w * h).flat_map(|i| [(i % w * 9) as u8, (i / w * 13) as u8, (i % 7 * 30) as u8, 255]).collect() };
    let solid = tile(0, 0, 64, 64, &[0x20, 0x40, 0x80, 0xFF].repeat(64 * 64), Profile::Balanced, None);
    let palette = tile(64, 0, 5, 3, &px(&[[255, 255, 255], [0, 0, 0], [0, 120, 215]], 15), Profile::HighQuality, None);
    let gray = tile(128, 64, 4, 2, &px(&[[255, 0, 0], [0, 255, 0], [10, 10, 10], [200, 200, 255]], 8), Profile::EmergencyGrayscale, None);
    let rgb = tile(0, 64, 18, 18, &busy(18, 18), Profile::HighQuality, None);
    let jpeg = tile(1856, 1024, 24, 16, &busy(24, 16), Profile::Balanced, None);
    let encodings = [&solid, &palette, &gray, &rgb, &jpeg].map(|t| t.0.encoded.encoding);
    assert_eq!(encodings, [Encoding::Solid, Encoding::Png, Encoding::Png, Encoding::Png, Encoding::Jpeg], "the cases show what they say");
    let mut cases: Vec<Case> = vec![];
    let one = |seq, at, ts: &[&Sample]| encode_frame(seq, at, &ts.iter().map(|t| t.0.clone()).collect::<Vec<_>>());
    let to_vec = |v: Vec<bytes::Bytes>| v.into_iter().map(|b| b.to_vec()).collect::<Vec<_>>();
    cases.push(("one solid tile", to_vec(one(1, 1_000_000, &[&solid])), vec![&solid]));
    cases.push(("palette, gray and RGB PNG tiles", to_vec(one(2, 1_016_667, &[&palette, &gray, &rgb])), vec![&palette, &gray, &rgb]));
    cases.push(("a lossy JPEG tile", to_vec(one(0xFFFF_FFFF, u64::MAX, &[&jpeg])), vec![&jpeg]));
    cases.push(("an empty frame", to_vec(one(3, 0, &[])), vec![]));
    let split_limit = crate::render_wire::MESSAGE_HEADER_LEN + crate::render_wire::TILE_HEADER_LEN + 4;
    let split = to_vec(encode_frame_with_limit(4, 42, &[solid.0.clone(), solid.0.clone()], split_limit));
    cases.push(("one frame split over two messages", split, vec![&solid, &solid]));
    let mut out = vec![];
    for (name, msgs, tiles) in cases {
        let mut at = 0;
        for (i, m) in msgs.iter().enumerate() {
            let parsed = parse::message(m).expect("own message parses");
            let ts: Vec<Value> = tiles[at..at + parsed.tiles.len()].iter().map(|t| tile_json(&t.0, &t.1)).collect();
            at += parsed.tiles.len();
            out.push(json!({
                "name": if msgs.len() > 1 { format!("{name} ({}/{})", i + 1, msgs.len()) } else { name.to_owned() },
                "hex": hex(m),
                "message": {"frame_seq": parsed.seq, "last": parsed.last, "captured_at_us": parsed.captured_at_us.to_string(), "tiles": ts},
            }));
        }
    }
    Value::Array(out)
}

fn event_json(e: &InputEvent) -> Value {
    match *e {
        InputEvent::Key { scancode, down } => json!({"type": "key", "scancode": scancode, "down": down}),
        InputEvent::Unicode { codepoint, down } => json!({"type": "unicode", "codepoint": codepoint, "down": down}),
        InputEvent::MouseMove { x, y } => json!({"type": "mouse_move", "x": x, "y": y}),
        InputEvent::Button { button, down } => {
            let name = ["left", "middle", "right", "x1", "x2"][button as usize];
            json!({"type": "button", "button": name, "button_byte": button as u8, "down": down})
        }
        InputEvent::Wheel { delta, horizontal } => json!({"type": "wheel", "delta": delta, "horizontal": horizontal}),
        InputEvent::ReleaseAll => json!({"type": "release_all"}),
    }
}

fn input_batches() -> Value {
    let key = |scancode, down| InputEvent::Key { scancode, down };
    let cases: Vec<(&str, Vec<InputEvent>)> = vec![
        ("type the letter a", vec![key(0x1E, true), key(0x1E, false)]),
        (
            "ctrl+alt+del (del is extended)",
            vec![
                key(0x1D, true),
                key(0x38, true),
                key(EXTENDED | 0x53, true),
                key(EXTENDED | 0x53, false),
                key(0x38, false),
                key(0x1D, false),
            ],
        ),
        (
            "pointer: move, left click, wheel up one notch, wheel right two",
            vec![
                InputEvent::MouseMove { x: 640, y: 400 },
                InputEvent::Button { button: MouseButton::Left, down: true },
                InputEvent::Button { button: MouseButton::Left, down: false },
                InputEvent::Wheel { delta: 120, horizontal: false },
                InputEvent::Wheel { delta: -240, horizontal: true },
                InputEvent::Button { button: MouseButton::X2, down: true },
            ],
        ),
        (
            "unicode é and 😀",
            vec![
                InputEvent::Unicode { codepoint: 0xE9, down: true },
                InputEvent::Unicode { codepoint: 0xE9, down: false },
                InputEvent::Unicode { codepoint: 0x1F600, down: true },
            ],
        ),
        ("release all", vec![InputEvent::ReleaseAll]),
    ];
    Value::Array(
        cases
            .into_iter()
            .map(|(name, events)| {
                let mut wire = vec![];
                events.iter().for_each(|e| e.encode(&mut wire));
                assert_eq!(parse_batch(&wire).as_ref(), Ok(&events));
                json!({"name": name, "hex": hex(&wire), "events": events.iter().map(event_json).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

fn input_refused() -> Value {
    let cases: [(&str, &[u8]); 5] = [
        ("a key event cut short", &[0x01, 0x00, 0x1E]),
        ("an unknown event byte after a valid one", &[0x06, 0x07]),
        ("button 5 does not exist", &[0x04, 0x05, 0x01]),
        ("a surrogate is not a character", &[0x02, 0x00, 0x00, 0xD8, 0x00, 0x01]),
        ("down must be 0 or 1", &[0x01, 0x00, 0x1E, 0x02]),
    ];
    Value::Array(
        cases
            .iter()
            .map(|(name, wire)| {
                let code = parse_batch(wire).map_err(|e| e.code()).expect_err("refused");
                json!({"name": name, "hex": hex(wire), "code": code})
            })
            .collect(),
    )
}

fn json_messages() -> Value {
    json!({
        "desktop": desktop_message(1280, 800, Profile::Balanced, ColorMode::Full, 20, true, true),
        "stats": stats_message(&Stats { fps: 19.5, bytes_per_s: 812_345, encode_ms_p95: 0.8, frames_dropped: 0, tiles_superseded: 12, rtt_ms: 14.25, profile: Profile::Balanced, color_mode: ColorMode::Full }),
        "notice": notice("rdp.input_flood", "Too much input; some was dropped."),
        "frame_ack": {"type": "frame_ack", "seq": 2},
        "resize": {"type": "resize", "width": 1600, "height": 900},
        "quality": {"type": "quality", "profile": "low_bandwidth", "color_mode": "16"},
        "refresh": {"type": "refresh"},
        "clipboard": {"type": "clipboard", "sequence_id": 1, "origin": "client", "content_hash": crate::clipboard_bridge::content_hash("héllo"), "text": "héllo"},
    })
}

fn golden() -> Value {
    json!({
        "_comment": "RDP wire formats of rap.session.v1 (docs/protocol.md): tile messages (render stream DATA payloads) and input batches (input stream DATA payloads), byte for byte, with their meaning. captured_at_us is a decimal string (u64). rgba_hex: the pixels a PNG tile decodes to (SOLID tiles: their 4 bytes are R,G,B,A of every pixel). Generated by crates/fabric-rdp/src/wire_golden.rs (UPDATE_GOLDEN=1); the viewer's TypeScript codec is checked against it.",
        "encodings": {"png": 1, "jpeg": 2, "solid": 3},
        "tile_messages": tile_messages(),
        "input_batches": input_batches(),
        "input_refused": input_refused(),
        "json_messages": json_messages(),
    })
}

#[test]
fn the_golden_file_is_what_the_code_produces() {
    let want = golden();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&want).expect("json") + "\n";
        std::fs::create_dir_all(std::path::Path::new(PATH).parent().expect("parent")).expect("mkdir");
        std::fs::write(PATH, text).expect("write golden");
    }
    let have: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("golden file (UPDATE_GOLDEN=1 writes it)")).expect("golden JSON");
    assert!(
        have == want,
        "fixtures/rdp-wire/golden.json differs from what the code produces; regenerate it (UPDATE_GOLDEN=1) if the change is deliberate"
    );
}

#[test]
fn every_golden_entry_decodes_to_its_meaning() {
    let g: Value = serde_json::from_str(&std::fs::read_to_string(PATH).expect("golden file")).expect("golden JSON");
    for m in g["tile_messages"].as_array().expect("tile messages") {
        let parsed = parse::message(&unhex(m["hex"].as_str().expect("hex"))).expect("parses");
        assert_eq!(parsed.seq, m["message"]["frame_seq"].as_u64().expect("seq") as u32, "{}", m["name"]);
        assert_eq!(parsed.last, m["message"]["last"].as_bool().expect("last"));
        assert_eq!(parsed.captured_at_us.to_string(), m["message"]["captured_at_us"].as_str().expect("at"));
        let tiles = m["message"]["tiles"].as_array().expect("tiles");
        assert_eq!(parsed.tiles.len(), tiles.len());
        for (t, want) in parsed.tiles.iter().zip(tiles) {
            assert_eq!(hex(&t.encoded.bytes), want["bytes_hex"].as_str().expect("bytes"));
            if let Some(rgba) = want["rgba_hex"].as_str() {
                assert_eq!(hex(&crate::quality::decode_for_tests(&t.encoded, t.rect.w, t.rect.h)), rgba, "{}", m["name"]);
            }
        }
    }
    for b in g["input_batches"].as_array().expect("batches") {
        let events = parse_batch(&unhex(b["hex"].as_str().expect("hex"))).expect("parses");
        assert_eq!(Value::Array(events.iter().map(event_json).collect()), b["events"], "{}", b["name"]);
    }
    for r in g["input_refused"].as_array().expect("refused") {
        assert_eq!(parse_batch(&unhex(r["hex"].as_str().expect("hex"))).map_err(|e| e.code()).err(), r["code"].as_str(), "{}", r["name"]);
    }
}
