//! The input stream (kind 6): binary event batches become RDP fast-path input
//! written straight to the server through the writer task, never behind the
//! pacer or the session task's decoding. JSON controls (`resize`, `quality`,
//! `refresh`) go to whoever owns them. Bad input gets a notice on the render
//! stream and is dropped; the session goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ironrdp_input::{Database, MousePosition, Operation, Scancode, WheelRotations};
use ironrdp_pdu::input::fast_path::{FastPathInput, FastPathInputEvent};
use serde_json::Value;
use session_frame::FrameType;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use crate::events::AttachmentEnd;
use crate::frames::FrameReader;
use crate::hub::Hub;
use crate::input_wire::{self, FloodLimit, InputControl, InputEvent, MouseButton};
use crate::render_wire::notice;
use crate::screen::SharedScreen;
use crate::session::{Command, Writer};

/// Input events per second an attachment may inject (after coalescing).
pub const INPUT_EVENTS_PER_SECOND: u32 = 1000;

/// What the input task needs from the desktop.
#[derive(Clone)]
pub(crate) struct InputContext {
    pub writer: Writer,
    /// Which keys and buttons are down: shared across attachments so a takeover can release them.
    pub keys: Arc<tokio::sync::Mutex<Database>>,
    pub commands: mpsc::UnboundedSender<Command>,
    pub hub: Arc<Hub>,
    pub screen: Arc<SharedScreen>,
}

/// Reads the input stream until the client closes it.
pub(crate) async fn pump_input<R: AsyncRead + Unpin>(
    ctx: &InputContext,
    input: R,
    notices: &mpsc::UnboundedSender<Value>,
) -> AttachmentEnd {
    let mut reader = FrameReader::new(input);
    let mut flood = FloodLimit::new(INPUT_EVENTS_PER_SECOND);
    let mut last_flood_notice: Option<Instant> = None;
    loop {
        let frame = match reader.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return AttachmentEnd::ClientGone,
            Err(e) => {
                // Framing is lost: nothing after this can be trusted.
                let _ = notices.send(notice(e.code(), "the input stream carried something that is not a frame; reconnect"));
                return AttachmentEnd::ClientGone;
            }
        };
        match frame.kind {
            FrameType::Data => {
                let events = match input_wire::parse_batch(&frame.payload) {
                    Ok(events) => input_wire::coalesce(events),
                    Err(e) => {
                        let _ = notices.send(notice(e.code(), &e.to_string()));
                        continue;
                    }
                };
                let admitted = flood.admit(Instant::now(), events.len());
                let events = if admitted < events.len() {
                    if last_flood_notice.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        last_flood_notice = Some(Instant::now());
                        let _ = notices.send(notice("rdp.input_flood", "more than 1,000 input events per second; the excess was dropped"));
                    }
                    events.into_iter().take(admitted).collect()
                } else {
                    events
                };
                if inject(ctx, &events).await.is_err() {
                    // The connection to the server is gone: the session task ends the session and the attachment.
                    return std::future::pending().await;
                }
            }
            FrameType::Json => match frame.parse_json() {
                Ok(map) => control(ctx, &map, notices),
                Err(e) => {
                    let _ = notices.send(notice(e.code(), "a JSON input message must be an object with a string type"));
                }
            },
        }
    }
}

fn control(ctx: &InputContext, map: &serde_json::Map<String, Value>, notices: &mpsc::UnboundedSender<Value>) {
    match input_wire::parse_control(map) {
        Ok(InputControl::Resize { width, height }) => {
            if ctx.hub.desktop().resizable {
                let _ = ctx.commands.send(Command::Resize { width, height });
            }
        }
        Ok(InputControl::Quality { profile, color_mode }) => {
            if !ctx.hub.set_quality(profile, color_mode) {
                let _ = notices.send(notice("rdp.quality_locked", "this resource does not allow changing the quality"));
            }
        }
        Ok(InputControl::Refresh) => ctx.screen.refresh(),
        Err(e) => {
            let _ = notices.send(notice(e.code(), &e.to_string()));
        }
    }
}

/// Applies events to the key state and writes the fast-path input PDUs.
pub(crate) async fn inject(ctx: &InputContext, events: &[InputEvent]) -> Result<(), ()> {
    let desktop = ctx.hub.desktop();
    let fast_path: Vec<FastPathInputEvent> = {
        let mut keys = ctx.keys.lock().await;
        let mut out = Vec::new();
        let mut ops = Vec::new();
        for event in events {
            match *event {
                InputEvent::ReleaseAll => {
                    out.extend(keys.apply(std::mem::take(&mut ops)));
                    out.extend(keys.release_all());
                }
                other => ops.extend(operation(other, desktop.width, desktop.height)),
            }
        }
        out.extend(keys.apply(ops));
        out
    };
    send_fast_path(&ctx.writer, fast_path).await
}

/// Releases every key and button still down (a client went away mid-keypress).
pub(crate) async fn release_all(ctx: &InputContext) {
    let events: Vec<FastPathInputEvent> = ctx.keys.lock().await.release_all().into_iter().collect();
    let _ = send_fast_path(&ctx.writer, events).await;
}

async fn send_fast_path(writer: &Writer, events: Vec<FastPathInputEvent>) -> Result<(), ()> {
    for chunk in events.chunks(FastPathInput::MAX_EVENTS) {
        let Ok(pdu) = FastPathInput::new(chunk.to_vec()) else { continue };
        let Ok(frame) = ironrdp_core::encode_vec(&pdu) else { continue };
        writer.send(frame).await.map_err(|_| ())?;
    }
    Ok(())
}

/// One wire event as an ironrdp-input operation (`None`: nothing to inject, e.g. a surrogate code point).
fn operation(event: InputEvent, width: u16, height: u16) -> Option<Operation> {
    Some(match event {
        InputEvent::Key { scancode, down } => {
            // Wire: low 8 bits the set-1 code, bit 8 the E0 prefix.
            let code = Scancode::from_u8(scancode & 0x100 != 0, (scancode & 0xFF) as u8);
            if down {
                Operation::KeyPressed(code)
            } else {
                Operation::KeyReleased(code)
            }
        }
        InputEvent::Unicode { codepoint, down } => {
            let c = char::from_u32(codepoint)?;
            if down {
                Operation::UnicodeKeyPressed(c)
            } else {
                Operation::UnicodeKeyReleased(c)
            }
        }
        InputEvent::MouseMove { x, y } => {
            Operation::MouseMove(MousePosition { x: x.min(width.saturating_sub(1)), y: y.min(height.saturating_sub(1)) })
        }
        InputEvent::Button { button, down } => {
            let b = match button {
                MouseButton::Left => ironrdp_input::MouseButton::Left,
                MouseButton::Middle => ironrdp_input::MouseButton::Middle,
                MouseButton::Right => ironrdp_input::MouseButton::Right,
                MouseButton::X1 => ironrdp_input::MouseButton::X1,
                MouseButton::X2 => ironrdp_input::MouseButton::X2,
            };
            if down {
                Operation::MouseButtonPressed(b)
            } else {
                Operation::MouseButtonReleased(b)
            }
        }
        InputEvent::Wheel { delta, horizontal } => {
            Operation::WheelRotations(WheelRotations { is_vertical: !horizontal, rotation_units: delta })
        }
        InputEvent::ReleaseAll => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_events_map_to_rdp_operations() {
        let Some(Operation::KeyPressed(code)) = operation(InputEvent::Key { scancode: 0x11D, down: true }, 800, 600) else { panic!() };
        assert_eq!(code.as_u8(), (true, 0x1D));
        let Some(Operation::MouseMove(p)) = operation(InputEvent::MouseMove { x: 5000, y: 10 }, 800, 600) else { panic!() };
        assert_eq!((p.x, p.y), (799, 10));
        assert!(operation(InputEvent::Unicode { codepoint: 0xD800, down: true }, 800, 600).is_none());
        let Some(Operation::WheelRotations(w)) = operation(InputEvent::Wheel { delta: -120, horizontal: false }, 800, 600) else {
            panic!()
        };
        assert!(w.is_vertical && w.rotation_units == -120);
    }
}
