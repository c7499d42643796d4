//! Against a real RDP server: FreeRDP's shadow server (`freerdp-shadow-cli`)
//! on an Xvfb display, over TLS, on loopback. Skipped, with the reason
//! printed, when Xvfb or the shadow server is not installed
//! (`scripts/test` installs them: freerdp2-shadow-x11, xvfb).
//!
//! What it shows: the certificate pin is enforced with its error code; a
//! client attaching gets the `desktop` message and a full refresh of tile
//! messages covering the desktop; acks open the window; a second attach
//! takes over the first; stop ends the session with `Ended { Stopped }`.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fabric_rdp::{AttachmentEnd, CertificatePolicy, DesktopEvent, DesktopRequest, EndReason, RdpDesktop, RdpTarget, SessionPolicy};
use session_frame::{read_frame, write_frame, Frame, FrameType};
use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

struct Server {
    children: Vec<Child>,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn installed(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(binary).is_file()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Xvfb and the shadow server on free numbers, or `None` (with the reason printed) when they are not installed.
fn start_shadow() -> Option<Server> {
    for binary in ["Xvfb", "freerdp-shadow-cli"] {
        if !installed(binary) {
            eprintln!("skipped: {binary} is not installed (apt-get install xvfb freerdp2-shadow-x11)");
            return None;
        }
    }
    let display =
        (200..400).find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists())?;
    let xvfb = Command::new("Xvfb")
        .arg(format!(":{display}"))
        .args(["-screen", "0", "800x600x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut server = Server { children: vec![xvfb], port: free_port() };
    wait_until(Duration::from_secs(10), || Path::new(&format!("/tmp/.X11-unix/X{display}")).exists());
    let shadow = Command::new("freerdp-shadow-cli")
        .env("DISPLAY", format!(":{display}"))
        .args([format!("/port:{}", server.port), "/sec:tls".into(), "-auth".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    server.children.push(shadow);
    let port = server.port;
    wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Some(server)
}

fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn target(port: u16, certificate: CertificatePolicy) -> RdpTarget {
    RdpTarget { host: "127.0.0.1".into(), port, username: "tester".into(), password: "any".into(), domain: None, certificate }
}

type Events = Arc<Mutex<Vec<DesktopEvent>>>;

fn sink() -> (Events, fabric_rdp::EventSink) {
    let events: Events = Arc::default();
    let e = events.clone();
    (events, Arc::new(move |event| e.lock().unwrap().push(event)))
}

/// One client: the input stream's write side, and the render stream's both sides.
struct Client {
    input: DuplexStream,
    render_in: DuplexStream,
    acks: DuplexStream,
}

fn attach(desktop: &RdpDesktop) -> (Client, fabric_rdp::Attachment) {
    let (input, input_adapter) = duplex(64 * 1024);
    let (render_adapter, render_in) = duplex(4 * 1024 * 1024);
    let (acks, acks_adapter) = duplex(64 * 1024);
    let attachment = desktop.attach(input_adapter, acks_adapter, render_adapter);
    (Client { input, render_in, acks }, attachment)
}

/// A tile's x, y, w, h and encoding.
type TileHeader = (u16, u16, u16, u16, u8);

/// Tiles of one tile message: (seq, last, tiles).
fn parse_tiles(payload: &[u8]) -> (u32, bool, Vec<TileHeader>) {
    assert_eq!(payload[0], 1);
    let seq = u32::from_be_bytes(payload[1..5].try_into().unwrap());
    let last = payload[5] & 1 == 1;
    let count = u16::from_be_bytes(payload[14..16].try_into().unwrap());
    let mut at = 16;
    let mut tiles = Vec::new();
    for _ in 0..count {
        let n = |i: usize| u16::from_be_bytes(payload[at + i..at + i + 2].try_into().unwrap());
        let (x, y, w, h, enc) = (n(0), n(2), n(4), n(6), payload[at + 8]);
        let len = u32::from_be_bytes(payload[at + 9..at + 13].try_into().unwrap()) as usize;
        tiles.push((x, y, w, h, enc));
        at += 13 + len;
    }
    assert_eq!(at, payload.len(), "a tile message is exactly its tiles");
    (seq, last, tiles)
}

/// Reads render frames until the tiles received cover the whole desktop, acking each finished frame.
async fn read_full_refresh(client: &mut Client, width: u16, height: u16) {
    let mut covered = HashSet::new();
    let want = usize::from(width.div_ceil(64)) * usize::from(height.div_ceil(64));
    while covered.len() < want {
        let frame = tokio::time::timeout(Duration::from_secs(20), read_frame(&mut client.render_in))
            .await
            .expect("render frames keep coming")
            .unwrap()
            .unwrap();
        if frame.kind != FrameType::Data {
            continue;
        }
        let (seq, last, tiles) = parse_tiles(&frame.payload);
        for (x, y, w, h, enc) in tiles {
            assert!(w <= 64 && h <= 64 && x % 64 == 0 && y % 64 == 0 && (1..=3).contains(&enc));
            covered.insert((x, y));
        }
        if last {
            write_frame(&mut client.acks, &Frame::json(&serde_json::json!({"type": "frame_ack", "seq": seq}))).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_server_desktop_streams_as_tiles_and_survives_takeover() {
    let Some(server) = start_shadow() else { return };

    // A wrong pin is refused with its code, naming what the server presented.
    let (events, sink_fn) = sink();
    let wrong = CertificatePolicy::Pinned("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let e = RdpDesktop::start(target(server.port, wrong), DesktopRequest { width: 800, height: 600 }, SessionPolicy::default(), sink_fn)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "adapter.certificate_mismatch", "{e}");
    assert!(e.message.contains("SHA256:") && !e.message.contains("any"), "{e}");
    assert!(matches!(events.lock().unwrap().as_slice(), [DesktopEvent::Failed { .. }]));

    let (events, sink_fn) = sink();
    let desktop = RdpDesktop::start(
        target(server.port, CertificatePolicy::Ignore),
        DesktopRequest { width: 800, height: 600 },
        SessionPolicy::default(),
        sink_fn,
    )
    .await
    .expect("the shadow server accepts a TLS client");
    assert!(desktop.certificate_fingerprint().starts_with("SHA256:"));
    assert_eq!(events.lock().unwrap().as_slice(), [DesktopEvent::Started]);
    let (width, height) = desktop.size();

    let (mut first, first_attachment) = attach(&desktop);
    let hello = read_frame(&mut first.render_in).await.unwrap().unwrap().parse_json().unwrap();
    assert_eq!(hello["type"], "desktop");
    assert_eq!((hello["width"].as_u64(), hello["height"].as_u64()), (Some(u64::from(width)), Some(u64::from(height))));
    assert_eq!(hello["profile"], "balanced");
    read_full_refresh(&mut first, width, height).await;

    // Input reaches the server without waiting on render: a batch moving the mouse is accepted.
    let mut batch = vec![0x03];
    batch.extend_from_slice(&100u16.to_be_bytes());
    batch.extend_from_slice(&100u16.to_be_bytes());
    write_frame(&mut first.input, &Frame::data(batch)).await.unwrap();
    first.input.flush().await.unwrap();

    // A second client takes over: the first attachment ends, the second gets the whole desktop.
    let (mut second, second_attachment) = attach(&desktop);
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), first_attachment.finished()).await.unwrap(), AttachmentEnd::TakenOver);
    let hello = read_frame(&mut second.render_in).await.unwrap().unwrap().parse_json().unwrap();
    assert_eq!(hello["type"], "desktop");
    read_full_refresh(&mut second, width, height).await;
    // The pacer counts a frame just after writing it: wait (bounded) for the count to catch up.
    let full = 2 * u64::from(width.div_ceil(64)) * u64::from(height.div_ceil(64));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while desktop.counters().tiles_sent < full && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counters = desktop.counters();
    assert!(
        counters.frames_sent >= 2 && counters.tiles_sent >= 2 * u64::from(width.div_ceil(64)) * u64::from(height.div_ceil(64)),
        "{counters:?}"
    );
    eprintln!("counters after two full refreshes: {counters:?}");

    desktop.stop();
    tokio::time::timeout(Duration::from_secs(5), desktop.closed()).await.expect("stop closes the connection");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), second_attachment.finished()).await.unwrap(),
        AttachmentEnd::SessionEnded(EndReason::Stopped)
    );
    assert_eq!(events.lock().unwrap().last(), Some(&DesktopEvent::Ended { reason: EndReason::Stopped }));
    drop(server);
}
