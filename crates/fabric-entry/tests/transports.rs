//! The entry over real sockets, each behaviour over both transports: a
//! WebTransport client (web-transport-quinn) and a WebSocket client (qmux).
//! Bad input closes only the offending transport: an admitted connection of
//! the same transport keeps echoing after every refusal.

mod support;

use std::time::Duration;

use fabric_entry::{CloseReason, Frame, Notice, StreamKind, PATH};
use serde_json::json;
use support::*;
use web_transport_trait::{SendStream, Session};

const GOOD: &str = "good";
const SESSION: &str = "3f1c1d9e-0000-4000-8000-000000000001";

async fn welcome_then_echo<S: Session>(mut client: Client<S>, transport: &str) {
    let welcome = client.hello(GOOD).await;
    assert_eq!(welcome["type"], "welcome", "{welcome:?}");
    assert_eq!(welcome["version"], 1);
    assert_eq!(welcome["session_id"], SESSION);
    assert_eq!(welcome["transport"], transport);
    assert_eq!(welcome["channels"], json!(["control", "input", "render"]));
    assert!(welcome["attachment_id"].as_str().is_some_and(|a| a.starts_with("attachment-")));
    echo_works(&client, b"ls -la\r").await;
    client.send(json!({"type": "ping", "seq": 7})).await;
    let pong = client.recv().await.expect("pong");
    assert_eq!((pong["type"].as_str(), pong["seq"].as_u64()), (Some("pong"), Some(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_welcomed_and_input_echoes_on_render_over_both_transports() {
    let entry = start(|_| {}).await;
    welcome_then_echo(Client::new(connect_wt(&entry, PATH).await.expect("wt")), "webtransport").await;
    welcome_then_echo(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws")), "websocket").await;
}

async fn resize_passes<S: Session>(mut client: Client<S>) {
    assert_eq!(client.hello(GOOD).await["type"], "welcome");
    let (mut input, _) = client.open(StreamKind::Input.byte()).await;
    let (_keep, mut render) = client.open(StreamKind::Render.byte()).await;
    let resize = Frame::json(&json!({"type": "resize", "cols": 120, "rows": 40})).encode().expect("encode");
    input.write_all(&resize).await.map_err(|_| "write").expect("write");
    assert_eq!(render.data_until(15).await, b"resize 120x40\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_on_input_reaches_the_upstream() {
    let entry = start(|_| {}).await;
    resize_passes(Client::new(connect_wt(&entry, PATH).await.expect("wt"))).await;
    resize_passes(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"))).await;
}

async fn refused_token<S: Session>(mut client: Client<S>) {
    let answer = client.hello("forged").await;
    assert_eq!(answer["type"], "error");
    let error = &answer["error"];
    assert_eq!(error["code"], "data_plane.token_invalid");
    assert_eq!(error["message_key"], "errors.data_plane.token_invalid");
    assert!(error["fallback_message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["trace_id"].as_str().is_some_and(|t| t.len() == 32), "{error}");
    assert!(error["details"].is_object());
    client.closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_gets_the_handlers_error_event_and_the_transport_closes() {
    let mut entry = start(|_| {}).await;
    refused_token(Client::new(connect_wt(&entry, PATH).await.expect("wt"))).await;
    assert_eq!(entry.next_closed().await.reason, CloseReason::Refused("data_plane.token_invalid".into()));
    refused_token(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"))).await;
    let report = entry.next_closed().await;
    assert_eq!(report.reason, CloseReason::Refused("data_plane.token_invalid".into()));
    assert!(report.admission.is_none());
}

/// One kind of bad input; each returns the error code the entry answered with.
#[derive(Debug, Clone, Copy)]
enum Bad {
    ChannelBeforeWelcome,
    ChannelBeforeControl,
    PingBeforeHello,
    MalformedFrameType,
    ControlDataFrame,
    InvalidJson,
    UnknownStreamKind,
    OversizeJson,
    OversizeData,
    UnknownType,
    UnknownTypeOnInput,
    ChannelNotAllowed,
    UnsupportedVersion,
    HelloWithoutToken,
    SecondHello,
    TooManyStreams,
}

const ALL_BAD: [(Bad, &str); 16] = [
    (Bad::ChannelBeforeWelcome, "data_plane.not_authenticated"),
    (Bad::ChannelBeforeControl, "data_plane.not_authenticated"),
    (Bad::PingBeforeHello, "data_plane.not_authenticated"),
    (Bad::MalformedFrameType, "protocol.malformed_frame"),
    (Bad::ControlDataFrame, "protocol.malformed_frame"),
    (Bad::InvalidJson, "protocol.malformed_frame"),
    (Bad::UnknownStreamKind, "protocol.malformed_frame"),
    (Bad::OversizeJson, "protocol.frame_too_large"),
    (Bad::OversizeData, "protocol.frame_too_large"),
    (Bad::UnknownType, "protocol.unknown_message"),
    (Bad::UnknownTypeOnInput, "protocol.unknown_message"),
    (Bad::ChannelNotAllowed, "data_plane.channel_not_allowed"),
    (Bad::UnsupportedVersion, "protocol.unsupported_version"),
    (Bad::HelloWithoutToken, "protocol.invalid_message"),
    (Bad::SecondHello, "protocol.invalid_message"),
    (Bad::TooManyStreams, "protocol.too_many_streams"),
];

async fn misbehave<S: Session>(mut c: Client<S>, bad: Bad) -> String {
    let hello = |token: &str| json!({"type": "hello", "version": 1, "session_id": SESSION, "token": token});
    // Streams stay open until the refusal arrives (dropping one resets it before its bytes leave).
    let mut kept = vec![];
    match bad {
        Bad::ChannelBeforeWelcome => {
            c.open_control().await;
            let (_send, mut input) = c.open(StreamKind::Input.byte()).await;
            // The entry reads each stream's kind on its own task: when the input stream's kind is read before
            // control's, there is no control stream yet and the refusal comes back on the input stream instead.
            let (_, control) = c.control.as_mut().expect("control");
            let m = tokio::select! {
                Some(m) = control.json() => m,
                Some(m) = input.json() => m,
                else => panic!("an error event on control or on the input stream"),
            };
            c.closed().await;
            return m["error"]["code"].as_str().unwrap_or_default().to_string();
        }
        Bad::ChannelBeforeControl => {
            // No control stream to answer on: the error comes back on the offending stream.
            let (_send, mut frames) = c.open(StreamKind::Input.byte()).await;
            let m = frames.json().await.expect("an error on the stream");
            c.closed().await;
            return m["error"]["code"].as_str().unwrap_or_default().to_string();
        }
        Bad::PingBeforeHello => {
            c.open_control().await;
            c.send(json!({"type": "ping", "seq": 1})).await;
        }
        Bad::MalformedFrameType => {
            c.open_control().await;
            c.send_raw(&[9, 0, 0, 0, 0]).await;
        }
        Bad::ControlDataFrame => {
            c.open_control().await;
            c.send_raw(&Frame::data(&b"x"[..]).encode().expect("encode")).await;
        }
        Bad::InvalidJson => {
            c.open_control().await;
            c.send_raw(&[1, 0, 0, 0, 2, b'{', b'"']).await;
        }
        Bad::UnknownStreamKind => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            kept.push(c.open(3).await);
        }
        Bad::OversizeJson => {
            c.open_control().await;
            c.send_raw(&[1, 0, 1, 0, 1]).await; // 65,537 bytes announced
        }
        Bad::OversizeData => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            let (mut input, frames) = c.open(StreamKind::Input.byte()).await;
            input.write_all(&[2, 0, 0x10, 0, 1]).await.map_err(|_| "write").expect("write"); // 1 MiB + 1
            kept.push((input, frames));
        }
        Bad::UnknownType => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            c.send(json!({"type": "format_disk"})).await;
        }
        Bad::UnknownTypeOnInput => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            let (mut input, frames) = c.open(StreamKind::Input.byte()).await;
            input
                .write_all(&Frame::json(&json!({"type": "paste_all"})).encode().expect("encode"))
                .await
                .map_err(|_| "write")
                .expect("write");
            kept.push((input, frames));
        }
        Bad::ChannelNotAllowed => {
            assert_eq!(c.hello("good:input").await["channels"], json!(["control", "input"]));
            kept.push(c.open(StreamKind::Render.byte()).await);
        }
        Bad::UnsupportedVersion => {
            c.open_control().await;
            c.send(json!({"type": "hello", "version": 2, "session_id": SESSION, "token": GOOD})).await;
        }
        Bad::HelloWithoutToken => {
            c.open_control().await;
            c.send(json!({"type": "hello", "version": 1, "session_id": SESSION})).await;
        }
        Bad::SecondHello => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            c.send(hello(GOOD)).await;
        }
        Bad::TooManyStreams => {
            assert_eq!(c.hello(GOOD).await["type"], "welcome");
            for _ in 0..3 {
                kept.push(c.open(StreamKind::Input.byte()).await);
            }
        }
    }
    let code = c.error_code().await;
    c.closed().await;
    drop(kept);
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_error_event_and_closes_only_that_transport() {
    let mut entry = start(|c| c.max_streams_per_connection = 2).await;
    let mut good_wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
    assert_eq!(good_wt.hello(GOOD).await["type"], "welcome");
    let mut good_ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    assert_eq!(good_ws.hello(GOOD).await["type"], "welcome");
    for (bad, want) in ALL_BAD {
        let code = misbehave(Client::new(connect_wt(&entry, PATH).await.expect("wt")), bad).await;
        assert_eq!(code, want, "{bad:?} over WebTransport");
        let code = misbehave(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws")), bad).await;
        assert_eq!(code, want, "{bad:?} over WebSocket");
        for _ in 0..2 {
            assert_eq!(entry.next_closed().await.reason, CloseReason::Refused(want.into()), "{bad:?}");
        }
        // The admitted connections were not touched.
        good_wt.send(json!({"type": "ping", "seq": 1})).await;
        assert_eq!(good_wt.recv().await.expect("pong")["type"], "pong", "{bad:?}");
        good_ws.send(json!({"type": "ping", "seq": 1})).await;
        assert_eq!(good_ws.recv().await.expect("pong")["type"], "pong", "{bad:?}");
    }
    echo_works(&good_wt, b"still here").await;
    echo_works(&good_ws, b"still here").await;
    assert_eq!(entry.server.connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hello_in_time_is_refused_with_hello_timeout() {
    let mut entry = start(|c| c.hello_timeout = Duration::from_millis(300)).await;
    for _ in 0..2 {
        let mut wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
        wt.open_control().await;
        assert_eq!(wt.error_code().await, "data_plane.hello_timeout");
        wt.closed().await;
        let mut ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
        ws.open_control().await;
        assert_eq!(ws.error_code().await, "data_plane.hello_timeout");
        ws.closed().await;
    }
    for _ in 0..4 {
        assert_eq!(entry.next_closed().await.reason, CloseReason::Refused("data_plane.hello_timeout".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_hello_is_refused_with_entry_full_and_the_admitted_one_keeps_working() {
    let entry = start(|c| c.max_connections = 1).await;
    let mut first = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    assert_eq!(first.hello(GOOD).await["type"], "welcome");
    let mut over_wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
    let answer = over_wt.hello(GOOD).await;
    assert_eq!(answer["error"]["code"], "data_plane.entry_full", "{answer:?}");
    over_wt.closed().await;
    let mut over_ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    assert_eq!(over_ws.hello(GOOD).await["error"]["code"], "data_plane.entry_full");
    over_ws.closed().await;
    echo_works(&first, b"first").await;
}

async fn pushed<S: Session>(entry: &mut Entry, mut client: Client<S>, notice: Notice, want: &str) {
    let welcome = client.hello(GOOD).await;
    let attachment = welcome["attachment_id"].as_str().expect("attachment").to_string();
    let admission = entry.handler.admitted().into_iter().find(|a| a.attachment_id == attachment).expect("admitted");
    assert!(entry.server.push(admission.connection_id, notice));
    let m = client.recv().await.expect("the notice");
    assert_eq!(m["type"], want);
    if want == "session.taken_over" {
        assert_eq!(m["error"]["code"], "data_plane.attachment_superseded");
    } else {
        assert_eq!(m["reason"], "admin");
    }
    client.closed().await;
    let report = entry.next_closed().await;
    assert_eq!(report.reason, CloseReason::Pushed(want.into()));
    assert_eq!((report.reason.name(), report.reason.detail()), ("pushed", Some(want)));
    assert_eq!(report.admission.map(|a| a.attachment_id), Some(attachment));
    assert!(!entry.server.push(admission.connection_id, Notice::Ended { reason: "again".into() }), "a closed connection takes no notice");
}

fn taken_over() -> Notice {
    Notice::TakenOver(fabric_entry::ErrorEvent {
        code: "data_plane.attachment_superseded".into(),
        message_key: "errors.data_plane.attachment_superseded".into(),
        fallback_message: "This connection was replaced by a newer one.".into(),
        details: Default::default(),
        trace_id: "t".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_notice_reaches_that_connection_which_is_then_closed_and_reported() {
    let mut entry = start(|_| {}).await;
    let wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
    pushed(&mut entry, wt, taken_over(), "session.taken_over").await;
    let ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    pushed(&mut entry, ws, Notice::Ended { reason: "admin".into() }, "session.ended").await;
    assert!(!entry.server.push(9_999, Notice::Ended { reason: "x".into() }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_and_a_plain_close_are_reported_to_the_handler() {
    let mut entry = start(|_| {}).await;
    let mut wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
    assert_eq!(wt.hello(GOOD).await["type"], "welcome");
    wt.send(json!({"type": "detach"})).await;
    assert_eq!(entry.next_closed().await.reason, CloseReason::Detached);
    let mut ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    assert_eq!(ws.hello(GOOD).await["type"], "welcome");
    ws.session.close(0, "bye");
    let report = entry.next_closed().await;
    assert_eq!(report.reason, CloseReason::ClientClosed);
    assert!(report.admission.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_protocol_path_and_subprotocol_are_served() {
    let entry = start(|_| {}).await;
    assert!(connect_wt(&entry, "/other").await.is_err());
    assert!(connect_ws(&entry, "/other", "webtransport").await.is_err());
    assert!(connect_ws(&entry, PATH, "chat").await.is_err());
    assert!(connect_ws(&entry, PATH, "webtransport").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection_and_reports_it() {
    let entry = start(|_| {}).await;
    let mut wt = Client::new(connect_wt(&entry, PATH).await.expect("wt"));
    assert_eq!(wt.hello(GOOD).await["type"], "welcome");
    let mut ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    assert_eq!(ws.hello(GOOD).await["type"], "welcome");
    let Entry { server, mut closed, .. } = entry;
    server.shutdown().await;
    wt.closed().await;
    ws.closed().await;
    for _ in 0..2 {
        let report = tokio::time::timeout(WAIT, closed.recv()).await.expect("in time").expect("a report");
        assert_eq!(report.reason, CloseReason::Shutdown);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_does_not_answer_in_time_gets_the_client_an_internal_error() {
    let mut entry = start(|c| c.admit_timeout = Duration::from_millis(300)).await;
    let mut ws = Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws"));
    let answer = ws.hello("stall").await;
    assert_eq!(answer["error"]["code"], "internal.error");
    assert_eq!(answer["error"]["details"], json!({}));
    ws.closed().await;
    assert_eq!(entry.next_closed().await.reason, CloseReason::Refused("internal.error".into()));
}

/// Sends one clipboard frame under `mode` and returns what came back on the clipboard stream (the echo
/// upstream answers with the same frame, then ends the stream), or the error code the entry refused with.
async fn clipboard_round<S: Session>(mut c: Client<S>, mode: &str) -> Result<Vec<u8>, String> {
    let welcome = c.hello(&format!("good:clipboard:{mode}")).await;
    assert_eq!(welcome["channels"], json!(["control", "clipboard"]));
    assert_eq!(welcome["policy"]["clipboard"], mode);
    let (mut send, mut frames) = c.open(StreamKind::Clipboard.byte()).await;
    let text = Frame::json(&json!({"type": "clipboard", "sequence_id": 1, "origin": "client", "content_hash": "00", "text": "hi"}));
    send.write_all(&text.encode().expect("encode")).await.map_err(|_| "write").expect("write");
    if mode == "server_to_client" {
        let code = c.error_code().await;
        c.closed().await;
        return Err(code);
    }
    let mut back = vec![];
    while let Some(frame) = frames.next().await {
        back.extend_from_slice(&frame.encode().expect("encode"));
    }
    Ok(back)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clipboard_stream_passes_only_the_directions_its_policy_allows() {
    let entry = start(|_| {}).await;
    let sent = Frame::json(&json!({"type": "clipboard", "sequence_id": 1, "origin": "client", "content_hash": "00", "text": "hi"}))
        .encode()
        .expect("encode")
        .to_vec();
    // Both ways allowed: the upstream's answer reaches the client.
    assert_eq!(clipboard_round(Client::new(connect_wt(&entry, PATH).await.expect("wt")), "bidirectional").await, Ok(sent.clone()));
    assert_eq!(clipboard_round(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws")), "bidirectional").await, Ok(sent));
    // Client to server only: the text reaches the upstream, whose answer is dropped before the client.
    assert_eq!(clipboard_round(Client::new(connect_wt(&entry, PATH).await.expect("wt")), "client_to_server").await, Ok(vec![]));
    assert_eq!(
        clipboard_round(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws")), "client_to_server").await,
        Ok(vec![])
    );
    // Server to client only: a client's text is refused with its code, and only that transport closes.
    let refused = Err("clipboard.direction_refused".to_string());
    assert_eq!(clipboard_round(Client::new(connect_wt(&entry, PATH).await.expect("wt")), "server_to_client").await, refused);
    assert_eq!(
        clipboard_round(Client::new(connect_ws(&entry, PATH, "webtransport").await.expect("ws")), "server_to_client").await,
        refused
    );
}
