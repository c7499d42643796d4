//! Session streams over real QUIC on loopback, between endpoints bound with
//! certificates from the test CA (`test_pki`): an entry node `a`, an
//! adapter node `c` and, where a test says so, a relay `r` between them.
//! Every wait is bounded (`within`); nothing sleeps in place of a condition.

use crate::class::Class;
use crate::endpoint::{Endpoint, EndpointOptions};
use crate::error::FabricError;
use crate::event::Event;
use crate::session_stream::{IncomingSessionStream, SessionStream};
use crate::test_pki::TestCa;
use crate::wire::{SessionId, StreamReason};
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const SESSION: SessionId = [0x5e; 16];
const ATTACHMENT: SessionId = [0xa7; 16];
const CLASSES: [Class; 4] = [Class::Input, Class::Render, Class::Clipboard, Class::FileTransfer];

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn bind(ca: &TestCa, node_id: &str, serial: u64) -> Endpoint {
    bind_with(ca, node_id, serial, |_| {})
}

fn bind_with(ca: &TestCa, node_id: &str, serial: u64, adjust: impl FnOnce(&mut EndpointOptions)) -> Endpoint {
    let creds = ca.node(node_id, serial);
    let mut options = EndpointOptions::new(&ca.cluster_id, node_id, &creds.cert_pem, creds.key_pkcs8, &ca.pem());
    adjust(&mut options);
    Endpoint::bind(options).expect("bind")
}

async fn link(from: &Endpoint, to: &Endpoint, classes: &[Class]) {
    within("connect", from.connect(to.node_id(), to.local_addr())).await.expect("connect");
    from.authorize(to.node_id(), classes);
    to.authorize(from.node_id(), classes);
}

/// `a` and `c` connected directly, every session class authorized both ways.
async fn direct() -> (Endpoint, Endpoint) {
    let ca = TestCa::new("c1");
    let (a, c) = (bind(&ca, "a", 10), bind(&ca, "c", 30));
    link(&a, &c, &CLASSES).await;
    (a, c)
}

/// `a` and `c` through the relay `r`, which holds a lease for them when `leased`.
async fn relayed(leased: bool) -> (Endpoint, Endpoint, Endpoint) {
    let ca = TestCa::new("c1");
    let (a, r, c) = (bind(&ca, "a", 10), bind(&ca, "r", 20), bind(&ca, "c", 30));
    link(&a, &r, &CLASSES).await;
    link(&r, &c, &CLASSES).await;
    // End to end: the classes a and c exchange, over no connection of their own.
    a.authorize("c", &CLASSES);
    c.authorize("a", &CLASSES);
    a.set_route("c", &["r".to_string()]);
    c.set_route("a", &["r".to_string()]);
    r.set_relay(true);
    if leased {
        r.set_relay_leases(vec![("a".into(), "c".into())], crate::clock::unix_now() + 3600);
    }
    (a, r, c)
}

async fn open(a: &Endpoint, class: Class, session: SessionId) -> SessionStream {
    within("open", a.open_session_stream("c", class, session, ATTACHMENT)).await.expect("open_session_stream")
}

async fn accept(c: &Endpoint) -> IncomingSessionStream {
    within("accept", c.accept_session_stream()).await.expect("the endpoint is open")
}

fn reason(error: &io::Error) -> &'static str {
    FabricError::in_io(error).map(FabricError::code).unwrap_or("no reason")
}

/// Reads until the stream fails and returns why; a clean end fails the test.
async fn read_failure(recv: &mut (impl AsyncRead + Unpin)) -> &'static str {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match within("a read to fail", recv.read(&mut buf)).await {
            Ok(0) => panic!("the stream ended cleanly; an error was expected"),
            Ok(_) => continue,
            Err(e) => return reason(&e),
        }
    }
}

/// Writes `bytes`, then reads until the stream fails, and returns why. The
/// refusal may arrive before the write (the header went first), failing it.
async fn refusal(entry: &mut SessionStream, bytes: &[u8]) -> &'static str {
    match within("write", entry.write_all(bytes)).await {
        Err(e) => reason(&e),
        Ok(()) => read_failure(entry).await,
    }
}

async fn next_refusal(node: &Endpoint) -> Event {
    within("a refused event", async {
        loop {
            match node.next_event().await {
                Some(event @ Event::Refused { .. }) => return event,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
}

/// Polls `condition` until it holds, within the bound.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

fn sessions(node: &Endpoint, counter: &str) -> u64 {
    node.stats()["sessions"][counter].as_u64().expect("a sessions counter")
}

/// Bytes that show a reordering, loss or duplication anywhere in a transfer.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Writes `message` one way and `reply` the other, then checks what arrived and the ids.
async fn exchange(entry: &mut SessionStream, adapter: &mut IncomingSessionStream) {
    let mut got = [0u8; 5];
    within("adapter reads", adapter.stream.read_exact(&mut got)).await.expect("read");
    assert_eq!(&got, b"hello");
    within("adapter writes", adapter.stream.write_all(b"world")).await.expect("write");
    within("entry reads", entry.read_exact(&mut got)).await.expect("read");
    assert_eq!(&got, b"world");
    assert_eq!((adapter.session_id, adapter.attachment_id, adapter.class), (SESSION, ATTACHMENT, Class::Input));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_flow_both_ways_on_a_direct_session_stream() {
    let (a, c) = direct().await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    assert_eq!((adapter.from.as_str(), adapter.via.as_deref()), ("a", None));
    exchange(&mut entry, &mut adapter).await;
    assert_eq!((sessions(&a, "opened"), sessions(&c, "accepted"), sessions(&c, "refused")), (1, 1, 0));
    assert_eq!((sessions(&a, "live"), sessions(&c, "live")), (1, 1));
    drop((entry, adapter));
    assert_eq!((sessions(&a, "live"), sessions(&c, "live")), (0, 0), "a dropped stream leaves the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_flow_both_ways_through_one_relay() {
    let (a, r, c) = relayed(true).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    assert_eq!((adapter.from.as_str(), adapter.via.as_deref()), ("a", Some("r")), "the origin, through the relay");
    exchange(&mut entry, &mut adapter).await;
    assert_eq!(sessions(&r, "relayed"), 1);
    assert!(r.stats()["relay"]["bytes"].as_u64().unwrap_or(0) >= 10, "both directions went through the relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_without_a_lease_refuses_the_stream() {
    let (a, r, c) = relayed(false).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    assert_eq!(refusal(&mut entry, b"hello").await, "relay_lease_missing");
    assert_eq!(next_refusal(&r).await, Event::Refused { node_id: "a".into(), class: Class::Input, reason: "relay_lease_missing" });
    assert_eq!(r.stats()["relay"]["refused"], 1);
    assert_eq!((sessions(&r, "relayed"), sessions(&c, "accepted"), sessions(&c, "refused")), (0, 0, 0), "nothing reached c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_a_session_not_served_from_an_entry_not_allowed_or_of_an_unauthorized_class_are_refused() {
    let (a, c) = direct().await;
    // c serves one session to another entry node and no longer takes clipboard from a.
    let served_to_b = [2; 16];
    c.serve_session(served_to_b, vec!["b".into()]);
    c.serve_session(SESSION, vec!["a".into()]);
    c.authorize("a", &[Class::Input, Class::Render]);
    let cases = [
        ([1; 16], Class::Input, "session_not_served"),
        (served_to_b, Class::Input, "entry_not_allowed"),
        (SESSION, Class::Clipboard, "channel_class_denied"),
    ];
    for (session, class, expected) in cases {
        let mut entry = open(&a, class, session).await;
        assert_eq!(refusal(&mut entry, b"must not be delivered").await, expected);
        assert_eq!(next_refusal(&c).await, Event::Refused { node_id: "a".into(), class, reason: expected });
    }
    assert_eq!((sessions(&c, "refused"), sessions(&c, "accepted")), (3, 0));
    assert_eq!(c.stats()["classes"]["clipboard"]["refused"], 1);
    // The first stream c's application ever gets is the one it serves.
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_does_not_start_with_a_session_header_is_refused_as_a_protocol_error() {
    let (a, c) = direct().await;
    c.serve_session(SESSION, vec!["a".into()]);
    let conn = a.shared.state.lock().unwrap().peers.get("c").map(|p| p.conn.clone()).expect("a is connected to c");
    let (mut send, mut recv) = within("open_bi", conn.open_bi()).await.expect("open_bi");
    // A class stream's header: not a session stream.
    let class_header = crate::wire::Header { class: Class::Input, origin: String::new(), path: vec![] }.encode();
    send.write_all(&class_header).await.expect("write");
    let failure = within("refusal", recv.read_to_end(1024)).await.expect_err("refused");
    let reset = matches!(failure, quinn::ReadToEndError::Read(quinn::ReadError::Reset(code)) if code == quinn::VarInt::from_u32(StreamReason::Protocol.code()));
    assert!(reset, "reset with protocol_error: {failure:?}");
    assert_eq!((sessions(&c, "refused"), sessions(&c, "accepted")), (1, 0));
    // The connection is unharmed: a real session stream still works.
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_the_accept_backlog_are_refused() {
    let ca = TestCa::new("c1");
    let a = bind(&ca, "a", 10);
    let c = bind_with(&ca, "c", 30, |o| o.session_backlog = 1);
    link(&a, &c, &CLASSES).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut first = open(&a, Class::Input, SESSION).await;
    first.write_all(b"hello").await.expect("write");
    wait_until("c has queued the first stream", || sessions(&c, "accepted") == 1).await;
    let mut second = open(&a, Class::Render, SESSION).await;
    // c's application has taken nothing yet: the second does not fit.
    assert_eq!(refusal(&mut second, b"x").await, "session_backlog_full");
    assert_eq!(next_refusal(&c).await, Event::Refused { node_id: "a".into(), class: Class::Render, reason: "session_backlog_full" });
    let mut adapter = accept(&c).await;
    exchange(&mut first, &mut adapter).await;
    assert_eq!((sessions(&c, "accepted"), sessions(&c, "refused")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_refuses_an_unauthorized_class_fabric_control_an_unknown_node_and_a_bad_node_id() {
    let (a, _c) = direct().await;
    a.authorize("c", &[Class::Input]);
    let code = |r: Result<SessionStream, FabricError>| r.err().map(|e| e.code());
    assert_eq!(code(a.open_session_stream("c", Class::Clipboard, SESSION, ATTACHMENT).await), Some("channel_class_denied"));
    assert_eq!(code(a.open_session_stream("c", Class::FabricControl, SESSION, ATTACHMENT).await), Some("channel_class_denied"));
    a.authorize("nowhere", &[Class::Input]);
    assert_eq!(code(a.open_session_stream("nowhere", Class::Input, SESSION, ATTACHMENT).await), Some("network_unreachable"));
    let too_long = "n".repeat(300);
    assert_eq!(code(a.open_session_stream(&too_long, Class::Input, SESSION, ATTACHMENT).await), Some("config_invalid"));
    assert_eq!(code(a.open_session_stream("", Class::Input, SESSION, ATTACHMENT).await), Some("config_invalid"));
    assert_eq!(sessions(&a, "live"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_stalls_only_its_own_session_stream() {
    const STREAMS: usize = 6;
    const EACH: usize = 2 << 20; // twice the 1 MiB stream window
    let (a, c) = direct().await;
    let mut entries = Vec::new();
    for i in 0..STREAMS {
        let session = [i as u8; 16];
        c.serve_session(session, vec!["a".into()]);
        entries.push(open(&a, Class::FileTransfer, session).await);
    }
    // Each writer sends its session's bytes and finishes.
    let writers: Vec<_> = entries
        .into_iter()
        .enumerate()
        .map(|(i, mut entry)| {
            tokio::spawn(async move {
                entry.write_all(&pattern(EACH, i as u32)).await.expect("write");
                entry.shutdown().await.expect("finish");
                entry
            })
        })
        .collect();
    let mut adapters = Vec::new();
    for _ in 0..STREAMS {
        adapters.push(accept(&c).await);
    }
    // Session 0's reader does not read; every other session completes regardless.
    let slow = adapters.iter().position(|s| s.session_id == [0; 16]).expect("session 0 arrived");
    let mut slow = adapters.swap_remove(slow);
    for mut adapter in adapters {
        let i = adapter.session_id[0] as u32;
        let mut got = Vec::new();
        within("a fast session's bytes", adapter.stream.read_to_end(&mut got)).await.expect("read");
        assert!(got == pattern(EACH, i), "session {i} arrived intact");
    }
    assert!(!writers[0].is_finished(), "the unread session is held back by its own stream window");
    let mut got = Vec::new();
    within("the slow session's bytes", slow.stream.read_to_end(&mut got)).await.expect("read");
    assert!(got == pattern(EACH, 0), "the slow session arrived intact once read");
    for writer in writers {
        within("writer", writer).await.expect("writer task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_or_an_abort_at_either_end_reaches_the_other_directly_and_through_a_relay() {
    let (a, c) = direct().await;
    let (ra, _r, rc) = relayed(true).await;
    for (entry_node, adapter_node) in [(&a, &c), (&ra, &rc)] {
        adapter_node.serve_session(SESSION, vec!["a".into()]);
        // The entry finishes first, then the adapter: each side reads to a clean end.
        let mut entry = open(entry_node, Class::Input, SESSION).await;
        entry.write_all(b"bye").await.expect("write");
        entry.shutdown().await.expect("finish");
        let mut adapter = accept(adapter_node).await;
        let mut got = Vec::new();
        within("the entry's finish", adapter.stream.read_to_end(&mut got)).await.expect("read");
        assert_eq!(got, b"bye");
        adapter.stream.write_all(b"ok").await.expect("write");
        adapter.stream.shutdown().await.expect("finish");
        let mut got = Vec::new();
        within("the adapter's finish", entry.read_to_end(&mut got)).await.expect("read");
        assert_eq!(got, b"ok");
        // The adapter gives up: the entry's reads and writes fail with its reason.
        let mut entry = open(entry_node, Class::Render, SESSION).await;
        entry.write_all(b"x").await.expect("write");
        let mut adapter = accept(adapter_node).await;
        adapter.stream.abort(StreamReason::SessionEnded);
        assert_eq!(read_failure(&mut entry).await, "session_ended");
        // The entry gives up: the adapter's read fails with its reason.
        let mut entry = open(entry_node, Class::Clipboard, SESSION).await;
        entry.write_all(b"x").await.expect("write");
        let mut adapter = accept(adapter_node).await;
        entry.abort(StreamReason::Closed);
        assert_eq!(read_failure(&mut adapter.stream).await, "stream_closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mebibytes_each_way_arrive_intact_and_in_order_through_a_relay() {
    const LEN: usize = 8 << 20;
    let (a, r, c) = relayed(true).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let entry = open(&a, Class::FileTransfer, SESSION).await;
    let (mut entry_send, mut entry_recv) = entry.split();
    let upload = tokio::spawn(async move {
        entry_send.write_all(&pattern(LEN, 1)).await.expect("write");
        entry_send.shutdown().await.expect("finish");
    });
    let adapter = accept(&c).await;
    let (mut adapter_send, mut adapter_recv) = adapter.stream.split();
    let download = tokio::spawn(async move {
        adapter_send.write_all(&pattern(LEN, 2)).await.expect("write");
        adapter_send.shutdown().await.expect("finish");
    });
    let (mut up, mut down) = (Vec::with_capacity(LEN), Vec::with_capacity(LEN));
    within("upload", adapter_recv.read_to_end(&mut up)).await.expect("read");
    within("download", entry_recv.read_to_end(&mut down)).await.expect("read");
    assert!(up == pattern(LEN, 1), "the upload arrived intact and in order");
    assert!(down == pattern(LEN, 2), "the download arrived intact and in order");
    within("writers", async { (upload.await.expect("upload task"), download.await.expect("download task")) }).await;
    assert!(r.stats()["relay"]["bytes"].as_u64().unwrap_or(0) >= 2 * LEN as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_dies_ends_both_ends_streams_with_an_error() {
    let (a, r, c) = relayed(true).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
    r.close().await;
    // Either the close of its connection to r, or r's reset of the spliced
    // stream when r's other link went first: both are errors, never a clean end.
    for failure in [read_failure(&mut entry).await, read_failure(&mut adapter.stream).await] {
        assert!(["shutdown", "network_unreachable"].contains(&failure), "{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_loses_one_link_resets_the_other_side() {
    let (a, r, c) = relayed(true).await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
    assert!(r.disconnect("c", "peer_draining"));
    assert_eq!(read_failure(&mut adapter.stream).await, "peer_draining", "c's connection to r closed");
    assert_eq!(read_failure(&mut entry).await, "network_unreachable", "r reset a's stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_peer_ends_its_session_streams_with_an_error() {
    let (a, c) = direct().await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
    assert_eq!(c.set_revoked(vec!["0a".into()]), vec!["a".to_string()], "a's serial is 10");
    assert_eq!(read_failure(&mut entry).await, "certificate_revoked");
    assert_eq!(read_failure(&mut adapter.stream).await, "network_unreachable", "closed here, so no close reason arrives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_session_or_withdrawing_its_class_ends_the_open_streams() {
    let (a, c) = direct().await;
    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Input, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    exchange(&mut entry, &mut adapter).await;
    assert!(c.stop_serving_session(SESSION));
    assert_eq!(read_failure(&mut adapter.stream).await, "session_ended");
    drop(adapter);
    assert_eq!(read_failure(&mut entry).await, "session_ended", "passed on when the adapter's half goes");

    c.serve_session(SESSION, vec!["a".into()]);
    let mut entry = open(&a, Class::Clipboard, SESSION).await;
    entry.write_all(b"hello").await.expect("write");
    let mut adapter = accept(&c).await;
    c.authorize("a", &[Class::Input]);
    assert_eq!(read_failure(&mut adapter.stream).await, "channel_class_denied");
    drop(adapter);
    assert_eq!(read_failure(&mut entry).await, "channel_class_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_ends_when_the_endpoint_closes() {
    let (_a, c) = direct().await;
    c.close().await;
    assert!(within("accept after close", c.accept_session_stream()).await.is_none());
}
