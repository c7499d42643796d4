//! The frame codec against the golden file that the TypeScript client's codec
//! (http/access/client/frame.ts) is tested against too: both agree byte for byte.

use serde_json::Value;
use session_frame::{Frame, FrameDecoder, FrameType, StreamKind};

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/session-frame/golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden file")).expect("golden JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn every_golden_frame_encodes_and_decodes_to_the_same_bytes() {
    let g = golden();
    let frames = g["frames"].as_array().expect("frames");
    assert!(frames.len() >= 8);
    for f in frames {
        let wire = unhex(f["hex"].as_str().expect("hex"));
        let frame = match f["frame"]["kind"].as_str() {
            Some("json") => Frame::json(&f["frame"]["message"]),
            _ => Frame::data(unhex(f["frame"]["payload_hex"].as_str().expect("payload"))),
        };
        assert_eq!(frame.encode().expect("encode").as_ref(), &wire[..], "{}", f["name"]);
        let mut d = FrameDecoder::new();
        d.push(&wire);
        let decoded = d.next_frame().expect("decode").expect("whole");
        if decoded.kind == FrameType::Json {
            assert_eq!(Value::Object(decoded.parse_json().expect("json")), f["frame"]["message"], "{}", f["name"]);
        } else {
            assert_eq!(decoded, frame, "{}", f["name"]);
        }
    }
}

#[test]
fn every_golden_refusal_is_refused_with_its_code() {
    let g = golden();
    for r in g["refused"].as_array().expect("refused") {
        let mut d = FrameDecoder::new();
        d.push(&unhex(r["hex"].as_str().expect("hex")));
        let code = match d.next_frame() {
            Err(e) => e.code(),
            Ok(Some(frame)) => frame.parse_json().expect_err("refused").code(),
            Ok(None) => "incomplete",
        };
        assert_eq!(code, r["code"].as_str().expect("code"), "{}", r["name"]);
    }
}

#[test]
fn the_stream_kinds_are_the_golden_ones() {
    let g = golden();
    for k in [StreamKind::Control, StreamKind::Render, StreamKind::Input, StreamKind::Clipboard, StreamKind::FileTransfer] {
        assert_eq!(g["stream_kinds"][k.channel()].as_u64(), Some(u64::from(k.byte())), "{}", k.channel());
    }
}
