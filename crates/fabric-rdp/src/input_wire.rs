//! The input stream's messages (`docs/protocol.md` §RDP): binary batches of
//! keyboard and mouse events, and the JSON `resize`, `quality` and `refresh`
//! requests. Input has its own stream so it never waits behind render; this
//! module checks it (a bad batch is dropped whole, the session goes on),
//! coalesces pointer moves to the latest and limits floods.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::quality::{ColorMode, Profile};

/// Event tags of a binary input batch.
pub mod tag {
    pub const KEY: u8 = 0x01;
    pub const UNICODE: u8 = 0x02;
    pub const MOUSE_MOVE: u8 = 0x03;
    pub const BUTTON: u8 = 0x04;
    pub const WHEEL: u8 = 0x05;
    pub const RELEASE_ALL: u8 = 0x06;
}

/// A scancode's bit for the extended (E0-prefixed) keys; the low 8 bits are the set-1 code.
pub const EXTENDED: u16 = 0x100;
/// Desktop sizes a `resize` may ask for, both sides.
pub const MIN_DESKTOP_SIDE: u16 = 200;
pub const MAX_DESKTOP_SIDE: u16 = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    X1,
    X2,
}

impl MouseButton {
    fn from_byte(b: u8) -> Option<MouseButton> {
        [MouseButton::Left, MouseButton::Middle, MouseButton::Right, MouseButton::X1, MouseButton::X2].get(usize::from(b)).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// `scancode`: set-1 code in the low 8 bits, [`EXTENDED`] for E0 keys.
    Key {
        scancode: u16,
        down: bool,
    },
    /// A Unicode scalar value (not a surrogate).
    Unicode {
        codepoint: u32,
        down: bool,
    },
    /// Desktop pixels.
    MouseMove {
        x: u16,
        y: u16,
    },
    Button {
        button: MouseButton,
        down: bool,
    },
    /// 120 per notch; positive = up (vertical) or right (horizontal).
    Wheel {
        delta: i16,
        horizontal: bool,
    },
    /// Every key and button up (the viewer lost focus).
    ReleaseAll,
}

impl InputEvent {
    /// Events that only let go of something: never dropped by the flood
    /// limit, so a flood cannot leave a key or a button stuck down.
    pub fn is_release(&self) -> bool {
        matches!(
            self,
            InputEvent::Key { down: false, .. }
                | InputEvent::Unicode { down: false, .. }
                | InputEvent::Button { down: false, .. }
                | InputEvent::ReleaseAll
        )
    }

    /// The event on the wire (what the viewer sends).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            InputEvent::Key { scancode, down } => {
                out.push(tag::KEY);
                out.extend_from_slice(&scancode.to_be_bytes());
                out.push(u8::from(down));
            }
            InputEvent::Unicode { codepoint, down } => {
                out.push(tag::UNICODE);
                out.extend_from_slice(&codepoint.to_be_bytes());
                out.push(u8::from(down));
            }
            InputEvent::MouseMove { x, y } => {
                out.push(tag::MOUSE_MOVE);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
            }
            InputEvent::Button { button, down } => out.extend_from_slice(&[tag::BUTTON, button as u8, u8::from(down)]),
            InputEvent::Wheel { delta, horizontal } => {
                out.push(tag::WHEEL);
                out.extend_from_slice(&delta.to_be_bytes());
                out.push(u8::from(horizontal));
            }
            InputEvent::ReleaseAll => out.push(tag::RELEASE_ALL),
        }
    }
}

/// Why input was refused; the adapter sends [`InputError::code`] as a notice and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("unknown input event {tag:#04x} at byte {offset}")]
    UnknownEvent { tag: u8, offset: usize },
    #[error("input event {tag:#04x} at byte {offset} is cut short")]
    Truncated { tag: u8, offset: usize },
    #[error("input event {tag:#04x} at byte {offset}: {what}")]
    BadValue { tag: u8, offset: usize, what: &'static str },
    #[error("unknown input message type")]
    UnknownMessage,
    #[error("input message {kind}: {what}")]
    InvalidMessage { kind: &'static str, what: &'static str },
}

impl InputError {
    /// The stable error code (`core/error-catalog.ts`).
    pub fn code(&self) -> &'static str {
        match self {
            InputError::UnknownEvent { .. } | InputError::Truncated { .. } | InputError::BadValue { .. } => "protocol.malformed_input",
            InputError::UnknownMessage => "protocol.unknown_message",
            InputError::InvalidMessage { .. } => "protocol.invalid_message",
        }
    }
}

fn flag(tag: u8, offset: usize, b: u8) -> Result<bool, InputError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(InputError::BadValue { tag, offset, what: "a flag must be 0 or 1" }),
    }
}

/// A whole batch, or an error for the first bad event (the batch is then dropped whole).
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<InputEvent>, InputError> {
    let mut events = Vec::with_capacity(bytes.len() / 4);
    let mut at = 0;
    while let Some(&t) = bytes.get(at) {
        let len = match t {
            tag::KEY => 4,
            tag::UNICODE => 6,
            tag::MOUSE_MOVE => 5,
            tag::BUTTON => 3,
            tag::WHEEL => 4,
            tag::RELEASE_ALL => 1,
            _ => return Err(InputError::UnknownEvent { tag: t, offset: at }),
        };
        let e = bytes.get(at..at + len).ok_or(InputError::Truncated { tag: t, offset: at })?;
        let u16_at = |i: usize| u16::from_be_bytes([e[i], e[i + 1]]);
        events.push(match t {
            tag::KEY => {
                let scancode = u16_at(1);
                if scancode > (EXTENDED | 0xFF) {
                    return Err(InputError::BadValue { tag: t, offset: at, what: "a scancode has 9 bits" });
                }
                InputEvent::Key { scancode, down: flag(t, at, e[3])? }
            }
            tag::UNICODE => {
                let codepoint = u32::from_be_bytes([e[1], e[2], e[3], e[4]]);
                if char::from_u32(codepoint).is_none() {
                    return Err(InputError::BadValue { tag: t, offset: at, what: "not a Unicode scalar value" });
                }
                InputEvent::Unicode { codepoint, down: flag(t, at, e[5])? }
            }
            tag::MOUSE_MOVE => InputEvent::MouseMove { x: u16_at(1), y: u16_at(3) },
            tag::BUTTON => {
                let button = MouseButton::from_byte(e[1]).ok_or(InputError::BadValue { tag: t, offset: at, what: "unknown button" })?;
                InputEvent::Button { button, down: flag(t, at, e[2])? }
            }
            tag::WHEEL => InputEvent::Wheel { delta: i16::from_be_bytes([e[1], e[2]]), horizontal: flag(t, at, e[3])? },
            _ => InputEvent::ReleaseAll,
        });
        at += len;
    }
    Ok(events)
}

/// Consecutive pointer moves become the last one; order among the other
/// events is kept (a click lands where the pointer was at that moment).
pub fn coalesce(events: Vec<InputEvent>) -> Vec<InputEvent> {
    let mut out: Vec<InputEvent> = Vec::with_capacity(events.len());
    for e in events {
        match (out.last_mut(), e) {
            (Some(last @ InputEvent::MouseMove { .. }), InputEvent::MouseMove { .. }) => *last = e,
            _ => out.push(e),
        }
    }
    out
}

/// At most `per_second` events per one-second window (windows start at the
/// first event after the previous one ended). Takes `now` so it is tested
/// without clocks.
#[derive(Clone, Debug)]
pub struct FloodLimit {
    per_second: u32,
    window_start: Option<Instant>,
    used: u32,
    dropped_in_window: bool,
    notice_sent: bool,
}

impl FloodLimit {
    pub fn new(per_second: u32) -> Self {
        FloodLimit { per_second, window_start: None, used: 0, dropped_in_window: false, notice_sent: false }
    }

    fn roll(&mut self, now: Instant) {
        let expired = self.window_start.is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1));
        if expired {
            *self = FloodLimit { window_start: Some(now), ..FloodLimit::new(self.per_second) };
        }
    }

    /// How many of `n` events may pass now; the rest are dropped.
    pub fn admit(&mut self, now: Instant, n: usize) -> usize {
        self.roll(now);
        let room = (self.per_second - self.used) as usize;
        let pass = n.min(room);
        self.used += pass as u32;
        if pass < n {
            self.dropped_in_window = true;
        }
        pass
    }

    /// The events that pass now, in order. Releases always pass (and count),
    /// so a flood cannot leave a key held down.
    pub fn filter(&mut self, now: Instant, events: Vec<InputEvent>) -> Vec<InputEvent> {
        self.roll(now);
        events
            .into_iter()
            .filter(|e| {
                if e.is_release() {
                    self.used = self.used.saturating_add(1).min(self.per_second);
                    true
                } else {
                    self.admit(now, 1) == 1
                }
            })
            .collect()
    }

    /// True once per window in which something was dropped: time for one `rdp.input_flood` notice.
    pub fn take_notice(&mut self) -> bool {
        let due = self.dropped_in_window && !self.notice_sent;
        self.notice_sent |= due;
        due
    }
}

/// The JSON requests of the input stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputControl {
    Resize {
        width: u16,
        height: u16,
    },
    /// Either may be absent (or null): that part stays as it is.
    Quality {
        profile: Option<Profile>,
        color_mode: Option<ColorMode>,
    },
    /// Every tile dirty.
    Refresh,
}

fn side(json: &Map<String, Value>, key: &'static str) -> Result<u16, InputError> {
    json.get(key)
        .and_then(Value::as_u64)
        .filter(|v| (u64::from(MIN_DESKTOP_SIDE)..=u64::from(MAX_DESKTOP_SIDE)).contains(v))
        .map(|v| v as u16)
        .ok_or(InputError::InvalidMessage { kind: "resize", what: "width and height are whole pixels in 200..=8192" })
}

fn optional_name<T>(
    json: &Map<String, Value>,
    key: &str,
    parse: fn(&str) -> Option<T>,
    what: &'static str,
) -> Result<Option<T>, InputError> {
    match json.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().and_then(parse).map(Some).ok_or(InputError::InvalidMessage { kind: "quality", what }),
    }
}

/// A JSON message of the input stream (already checked to be an object with a string `type`).
pub fn parse_control(json: &Map<String, Value>) -> Result<InputControl, InputError> {
    match json.get("type").and_then(Value::as_str) {
        Some("resize") => Ok(InputControl::Resize { width: side(json, "width")?, height: side(json, "height")? }),
        Some("quality") => {
            let profile = optional_name(json, "profile", Profile::parse, "unknown profile")?;
            let color_mode = optional_name(json, "color_mode", ColorMode::parse, "unknown colour mode")?;
            if profile.is_none() && color_mode.is_none() {
                return Err(InputError::InvalidMessage { kind: "quality", what: "names a profile, a colour mode or both" });
            }
            Ok(InputControl::Quality { profile, color_mode })
        }
        Some("refresh") => Ok(InputControl::Refresh),
        _ => Err(InputError::UnknownMessage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(events: &[InputEvent]) -> Vec<u8> {
        let mut out = vec![];
        for e in events {
            e.encode(&mut out);
        }
        out
    }

    fn all_kinds() -> Vec<InputEvent> {
        vec![
            InputEvent::Key { scancode: 0x1D, down: true },
            InputEvent::Key { scancode: EXTENDED | 0x53, down: false },
            InputEvent::Unicode { codepoint: 0x1F600, down: true },
            InputEvent::MouseMove { x: 1919, y: 1079 },
            InputEvent::Button { button: MouseButton::X2, down: true },
            InputEvent::Wheel { delta: -240, horizontal: true },
            InputEvent::ReleaseAll,
        ]
    }

    #[test]
    fn every_event_kind_round_trips_with_its_wire_size() {
        let events = all_kinds();
        let wire = batch(&events);
        assert_eq!(wire.len(), 4 + 4 + 6 + 5 + 3 + 4 + 1);
        assert_eq!(&wire[..4], &[0x01, 0x00, 0x1D, 0x01]);
        assert_eq!(parse_batch(&wire), Ok(events));
        assert_eq!(parse_batch(&[]), Ok(vec![]));
    }

    #[test]
    fn truncated_unknown_and_out_of_range_events_drop_the_batch_with_a_code() {
        let wire = batch(&all_kinds());
        for cut in 1..wire.len() {
            if let Err(e) = parse_batch(&wire[..cut]) {
                assert_eq!(e.code(), "protocol.malformed_input");
                assert!(matches!(e, InputError::Truncated { .. }), "cut at {cut}: {e}");
            }
        }
        assert_eq!(parse_batch(&wire[..wire.len() - 2]).unwrap_err(), InputError::Truncated { tag: 0x05, offset: 22 });
        let mut unknown = batch(&[InputEvent::ReleaseAll]);
        unknown.push(0x07);
        assert_eq!(parse_batch(&unknown).unwrap_err(), InputError::UnknownEvent { tag: 0x07, offset: 1 });
        for bad in [
            vec![0x01, 0x02, 0x00, 0x01],             // scancode over 9 bits
            vec![0x01, 0x00, 0x1D, 0x02],             // down is 2
            vec![0x02, 0x00, 0x00, 0xD8, 0x00, 0x01], // a surrogate
            vec![0x02, 0x00, 0x11, 0x00, 0x00, 0x01], // past U+10FFFF
            vec![0x04, 0x05, 0x01],                   // button 5
            vec![0x05, 0x00, 0x78, 0x03],             // horizontal is 3
            vec![0x00],
        ] {
            assert_eq!(parse_batch(&bad).map_err(|e| e.code()), Err("protocol.malformed_input"), "{bad:?}");
        }
    }

    #[test]
    fn consecutive_moves_coalesce_to_the_latest_and_clicks_keep_their_place() {
        let mv = |x| InputEvent::MouseMove { x, y: x };
        let down = InputEvent::Button { button: MouseButton::Left, down: true };
        let got = coalesce(vec![mv(1), mv(2), mv(3), down, mv(4), mv(5), InputEvent::ReleaseAll, mv(6)]);
        assert_eq!(got, vec![mv(3), down, mv(5), InputEvent::ReleaseAll, mv(6)]);
        assert_eq!(coalesce(vec![]), vec![]);
    }

    #[test]
    fn the_flood_limit_passes_n_per_second_and_asks_for_one_notice_per_window() {
        let t0 = Instant::now();
        let mut f = FloodLimit::new(1000);
        assert_eq!(f.admit(t0, 600), 600);
        assert!(!f.take_notice());
        assert_eq!(f.admit(t0 + Duration::from_millis(500), 600), 400);
        assert!(f.take_notice());
        assert_eq!(f.admit(t0 + Duration::from_millis(900), 5), 0);
        assert!(!f.take_notice(), "one notice per window");
        assert_eq!(f.admit(t0 + Duration::from_millis(1000), 5), 5, "a new window");
        assert!(!f.take_notice());
        assert_eq!(f.admit(t0 + Duration::from_millis(1001), 996), 995);
        assert!(f.take_notice());
    }

    #[test]
    fn releases_pass_a_flood_so_nothing_stays_held() {
        let t0 = Instant::now();
        let mut f = FloodLimit::new(3);
        let key = |down| InputEvent::Key { scancode: 0x1E, down };
        let events = vec![key(true), key(false), key(true), key(false), key(true), key(false), InputEvent::ReleaseAll];
        let got = f.filter(t0, events);
        assert_eq!(got, vec![key(true), key(false), key(true), key(false), key(false), InputEvent::ReleaseAll]);
        assert!(f.take_notice());
    }

    #[test]
    fn control_messages_parse_within_their_bounds() {
        let p = |v: Value| parse_control(v.as_object().expect("object"));
        assert_eq!(p(json!({"type":"resize","width":1280,"height":800})), Ok(InputControl::Resize { width: 1280, height: 800 }));
        assert_eq!(p(json!({"type":"resize","width":200,"height":8192})), Ok(InputControl::Resize { width: 200, height: 8192 }));
        for bad in [
            json!({"type":"resize","width":199,"height":800}),
            json!({"type":"resize","width":1280,"height":8193}),
            json!({"type":"resize","width":1280.5,"height":800}),
            json!({"type":"resize","width":"1280","height":800}),
            json!({"type":"resize","width":-1,"height":800}),
            json!({"type":"resize"}),
        ] {
            assert_eq!(p(bad.clone()).map_err(|e| e.code()), Err("protocol.invalid_message"), "{bad}");
        }
        assert_eq!(
            p(json!({"type":"quality","profile":"low_bandwidth"})),
            Ok(InputControl::Quality { profile: Some(Profile::LowBandwidth), color_mode: None })
        );
        assert_eq!(
            p(json!({"type":"quality","color_mode":"16","profile":null})),
            Ok(InputControl::Quality { profile: None, color_mode: Some(ColorMode::Colors16) })
        );
        for bad in [json!({"type":"quality"}), json!({"type":"quality","profile":"ultra"}), json!({"type":"quality","color_mode":16})] {
            assert_eq!(p(bad.clone()).map_err(|e| e.code()), Err("protocol.invalid_message"), "{bad}");
        }
        assert_eq!(p(json!({"type":"refresh"})), Ok(InputControl::Refresh));
        assert_eq!(p(json!({"type":"reboot"})).map_err(|e| e.code()), Err("protocol.unknown_message"));
    }
}
