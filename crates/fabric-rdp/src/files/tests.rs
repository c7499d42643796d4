//! The transfer protocol over in-memory duplex streams against a real temporary directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};
use session_frame::{read_frame, write_frame, Frame, FrameType};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;
use crate::clipboard_bridge::hex;

/// A fresh directory under the system's temporary folder, removed when dropped.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> TempRoot {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!("fabric-rdp-files-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&p).expect("temp root");
        TempRoot(p)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The client's ends of one file_transfer stream served by [`serve`] on a task.
struct Client {
    to_adapter: DuplexStream,
    from_adapter: DuplexStream,
    lifecycle: watch::Sender<AttachState>,
    served: JoinHandle<TransferEnd>,
    dir: PathBuf,
    _root: TempRoot,
}

async fn client(mode: TransferMode) -> Client {
    let root = TempRoot::new();
    let dir = TransferDir::create(&root.0, "3f1c1d9e-0000-4000-8000-000000000001").await.expect("dir");
    let path = dir.path().to_path_buf();
    let (to_adapter, adapter_in) = tokio::io::duplex(64 * 1024);
    let (adapter_out, from_adapter) = tokio::io::duplex(64 * 1024);
    let (lifecycle, rx) = watch::channel(AttachState::Controller);
    let served = tokio::spawn(async move { serve(&dir, mode, adapter_in, adapter_out, rx).await });
    Client { to_adapter, from_adapter, lifecycle, served, dir: path, _root: root }
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Files in a folder, hidden ones included, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

impl Client {
    async fn json(&mut self, v: Value) {
        write_frame(&mut self.to_adapter, &Frame::json(&v)).await.expect("send");
    }

    async fn data(&mut self, bytes: &[u8]) {
        write_frame(&mut self.to_adapter, &Frame::data(bytes.to_vec())).await.expect("send");
    }

    async fn recv(&mut self) -> Frame {
        read_frame(&mut self.from_adapter).await.expect("frame").expect("not the end")
    }

    async fn recv_json(&mut self) -> Value {
        let f = self.recv().await;
        Value::Object(f.parse_json().expect("a JSON frame"))
    }

    /// The code of the next message, which must be an error.
    async fn error_code(&mut self) -> String {
        let v = self.recv_json().await;
        assert_eq!(v["type"], "error", "{v}");
        v["error"]["code"].as_str().expect("code").to_owned()
    }

    async fn upload(&mut self, id: &str, name: &str, bytes: &[u8], chunk: usize) -> Value {
        self.json(json!({"type":"file_upload.start","transfer_id":id,"name":name,"size":bytes.len()})).await;
        let ready = self.recv_json().await;
        assert_eq!(ready, json!({"type":"file_upload.ready","transfer_id":id}));
        for c in bytes.chunks(chunk) {
            self.data(c).await;
        }
        self.json(json!({"type":"file_upload.end","transfer_id":id,"sha256":sha(bytes)})).await;
        self.recv_json().await
    }

    /// Closes the client's side and waits for the adapter to finish.
    async fn end(mut self) -> (TransferEnd, PathBuf, TempRoot) {
        self.to_adapter.shutdown().await.expect("shutdown");
        drop(self.to_adapter);
        let end = self.served.await.expect("serve");
        (end, self.dir, self._root)
    }
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn an_upload_is_streamed_hashed_renamed_and_a_taken_name_gets_a_number() {
    let mut c = client(TransferMode::ClientToServer).await;
    let bytes = content(600_000);
    let done = c.upload("t1", "report.txt", &bytes, MAX_CHUNK_BYTES).await;
    assert_eq!(done, json!({"type":"file_upload.done","transfer_id":"t1","name":"report.txt","size":600_000,"sha256":sha(&bytes)}));
    let again = c.upload("t2", "report.txt", b"second", 4).await;
    assert_eq!(again["name"], "report (1).txt");
    let empty = c.upload("t3", "empty", b"", 1).await;
    assert_eq!((empty["size"].as_u64(), empty["sha256"].as_str()), (Some(0), Some(sha(b"").as_str())));
    let (end, dir, _root) = c.end().await;
    assert_eq!(end, TransferEnd::ClientClosed);
    assert_eq!(std::fs::read(dir.join("report.txt")).expect("file"), bytes);
    assert_eq!(std::fs::read(dir.join("report (1).txt")).expect("file"), b"second");
    assert_eq!(listing(&dir), vec!["ToClient", "empty", "report (1).txt", "report.txt"], "no .partial left");
}

#[tokio::test]
async fn bad_names_sizes_chunks_and_hashes_are_refused_and_leave_nothing_behind() {
    let mut c = client(TransferMode::Bidirectional).await;
    for bad in ["../x", "a/b", "a\\b", "a\0b", "..", ".", ".hidden", "", "line\nbreak"] {
        c.json(json!({"type":"file_upload.start","transfer_id":"n","name":bad,"size":1})).await;
        let v = c.recv_json().await;
        assert_eq!((v["error"]["code"].as_str(), v["transfer_id"].as_str()), (Some("file_transfer.name_invalid"), Some("n")), "{bad:?}");
    }
    c.json(json!({"type":"file_upload.start","transfer_id":"big","name":"big.iso","size":MAX_FILE_BYTES + 1})).await;
    assert_eq!(c.error_code().await, "file_upload.too_large");

    // A chunk over 256 KiB ends the upload; what the client still sends for it is dropped quietly.
    c.json(json!({"type":"file_upload.start","transfer_id":"c","name":"c.bin","size":MAX_CHUNK_BYTES + 1})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(&content(MAX_CHUNK_BYTES + 1)).await;
    assert_eq!(c.error_code().await, "file_transfer.chunk_too_large");
    c.data(b"late").await;
    c.json(json!({"type":"file_upload.end","transfer_id":"c","sha256":"00"})).await;

    // More bytes than announced.
    c.json(json!({"type":"file_upload.start","transfer_id":"m","name":"m.bin","size":3})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(b"four").await;
    assert_eq!(c.error_code().await, "file_upload.too_large");

    // A wrong hash.
    c.json(json!({"type":"file_upload.start","transfer_id":"h","name":"h.txt","size":5})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(b"hello").await;
    c.json(json!({"type":"file_upload.end","transfer_id":"h","sha256":sha(b"hellO")})).await;
    assert_eq!(c.error_code().await, "file_upload.hash_mismatch");

    // An end before all bytes, DATA with no upload, a bad id, an unknown message.
    c.json(json!({"type":"file_upload.start","transfer_id":"s","name":"s.txt","size":10})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(b"12345").await;
    c.json(json!({"type":"file_upload.end","transfer_id":"s","sha256":sha(b"12345")})).await;
    assert_eq!(c.error_code().await, "protocol.invalid_message");
    c.json(json!({"type":"file_upload.start","transfer_id":"../x","name":"ok.txt","size":1})).await;
    assert_eq!(c.error_code().await, "protocol.invalid_message");
    c.json(json!({"type":"file_delete","transfer_id":"z"})).await;
    assert_eq!(c.error_code().await, "protocol.unknown_message");

    // The stream still works after all that.
    assert_eq!(c.upload("ok", "ok.txt", b"fine", 2).await["type"], "file_upload.done");
    let (_, dir, _root) = c.end().await;
    assert_eq!(listing(&dir), vec!["ToClient", "ok.txt"]);
}

#[tokio::test]
async fn one_upload_at_a_time_and_each_direction_only_when_the_mode_allows_it() {
    let mut c = client(TransferMode::ClientToServer).await;
    c.json(json!({"type":"file_upload.start","transfer_id":"a","name":"a","size":2})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.json(json!({"type":"file_upload.start","transfer_id":"b","name":"b","size":2})).await;
    assert_eq!(c.error_code().await, "file_transfer.busy");
    c.json(json!({"type":"file_download.list"})).await;
    assert_eq!(c.error_code().await, "file_transfer.direction_refused");
    c.json(json!({"type":"file_download.start","transfer_id":"d","name":"x"})).await;
    assert_eq!(c.error_code().await, "file_transfer.direction_refused");
    c.json(json!({"type":"file_upload.cancel","transfer_id":"a"})).await;
    assert_eq!(c.upload("b", "b", b"ok", 2).await["name"], "b", "a cancelled upload frees the direction");
    let (_, dir, _root) = c.end().await;
    assert_eq!(listing(&dir), vec!["ToClient", "b"]);

    for mode in [TransferMode::ServerToClient, TransferMode::Disabled] {
        let mut c = client(mode).await;
        c.json(json!({"type":"file_upload.start","transfer_id":"a","name":"a","size":2})).await;
        assert_eq!(c.error_code().await, "file_transfer.direction_refused", "{mode:?}");
        let (_, dir, _root) = c.end().await;
        assert_eq!(listing(&dir), vec!["ToClient"]);
    }
}

#[tokio::test]
async fn a_download_lists_then_streams_chunks_and_its_hash() {
    let mut c = client(TransferMode::ServerToClient).await;
    let bytes = content(600_000);
    std::fs::write(c.dir.join(TO_CLIENT).join("out.bin"), &bytes).expect("write");
    std::fs::write(c.dir.join(TO_CLIENT).join("a.txt"), b"A").expect("write");
    std::fs::write(c.dir.join(TO_CLIENT).join(".hidden"), b"h").expect("write");
    std::fs::create_dir(c.dir.join(TO_CLIENT).join("folder")).expect("mkdir");
    std::os::unix::fs::symlink("/etc/passwd", c.dir.join(TO_CLIENT).join("link")).expect("symlink");
    c.json(json!({"type":"file_download.list"})).await;
    assert_eq!(
        c.recv_json().await,
        json!({"type":"file_download.files","files":[{"name":"a.txt","size":1},{"name":"out.bin","size":600_000}],"truncated":false})
    );
    c.json(json!({"type":"file_download.start","transfer_id":"d1","name":"out.bin"})).await;
    assert_eq!(c.recv_json().await, json!({"type":"file_download.begin","transfer_id":"d1","name":"out.bin","size":600_000}));
    let mut got = vec![];
    loop {
        let f = c.recv().await;
        if f.kind == FrameType::Json {
            assert_eq!(
                Value::Object(f.parse_json().expect("json")),
                json!({"type":"file_download.end","transfer_id":"d1","sha256":sha(&bytes)})
            );
            break;
        }
        assert!(f.payload.len() <= MAX_CHUNK_BYTES);
        got.extend_from_slice(&f.payload);
    }
    assert_eq!(got, bytes);
    for (name, code) in [
        ("missing.txt", "file_download.not_found"),
        ("link", "file_download.not_found"),
        ("folder", "file_download.not_found"),
        ("../x", "file_transfer.name_invalid"),
    ] {
        c.json(json!({"type":"file_download.start","transfer_id":"d2","name":name})).await;
        assert_eq!(c.error_code().await, code, "{name}");
    }
    c.json(json!({"type":"file_download.start","transfer_id":"d3","name":"a.txt"})).await;
    assert_eq!(c.recv_json().await["size"], 1);
    assert_eq!(c.recv().await.payload.as_ref(), b"A");
    assert_eq!(c.recv_json().await["sha256"], sha(b"A"));
    assert_eq!(c.end().await.0, TransferEnd::ClientClosed);
}

#[tokio::test]
async fn a_detach_blocks_the_download_in_progress() {
    let mut c = client(TransferMode::Bidirectional).await;
    let bytes = content(5 * 1024 * 1024);
    std::fs::write(c.dir.join(TO_CLIENT).join("big.bin"), &bytes).expect("write");
    c.json(json!({"type":"file_download.start","transfer_id":"d","name":"big.bin"})).await;
    assert_eq!(c.recv_json().await["type"], "file_download.begin");
    assert_eq!(c.recv().await.kind, FrameType::Data);
    c.lifecycle.send(AttachState::Detached).expect("send");
    // Chunks already on their way may arrive first; then the notice, and never the end.
    let mut chunks = 1;
    let last = loop {
        let f = c.recv().await;
        if f.kind == FrameType::Json {
            break Value::Object(f.parse_json().expect("json"));
        }
        chunks += 1;
    };
    assert!(chunks < bytes.len() / MAX_CHUNK_BYTES, "{chunks} chunks");
    assert_eq!((last["error"]["code"].as_str(), last["transfer_id"].as_str()), (Some("file_download.blocked"), Some("d")));
    assert_eq!(c.served.await.expect("serve"), TransferEnd::Detached);
}

#[tokio::test]
async fn a_takeover_ends_the_upload_and_removes_its_partial_file() {
    let mut c = client(TransferMode::Bidirectional).await;
    c.json(json!({"type":"file_upload.start","transfer_id":"u","name":"u.bin","size":10})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(b"12345").await;
    c.lifecycle.send(AttachState::TakenOver).expect("send");
    let v = c.recv_json().await;
    assert_eq!((v["error"]["code"].as_str(), v["transfer_id"].as_str()), (Some("session.taken_over"), Some("u")));
    assert_eq!(c.served.await.expect("serve"), TransferEnd::TakenOver);
    assert_eq!(listing(&c.dir), vec!["ToClient"]);
}

#[tokio::test]
async fn a_non_controller_gets_nothing_and_a_broken_frame_ends_the_stream() {
    let root = TempRoot::new();
    let dir = TransferDir::create(&root.0, "s1").await.expect("dir");
    let (_tx, rx) = watch::channel(AttachState::TakenOver);
    let mut out = vec![];
    assert_eq!(serve(&dir, TransferMode::Bidirectional, &b""[..], &mut out, rx).await, TransferEnd::TakenOver);
    let f = read_frame(&mut &out[..]).await.expect("frame").expect("one");
    assert_eq!(f.parse_json().expect("json")["error"]["code"], "session.taken_over");

    let mut c = client(TransferMode::Bidirectional).await;
    c.json(json!({"type":"file_upload.start","transfer_id":"u","name":"u.bin","size":10})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.to_adapter.write_all(&[9, 0, 0, 0, 0]).await.expect("write");
    assert_eq!(c.error_code().await, "protocol.malformed_frame");
    assert_eq!(c.served.await.expect("serve"), TransferEnd::Malformed);
    assert_eq!(listing(&c.dir), vec!["ToClient"]);

    // The client going away mid-upload leaves no partial file either.
    let mut c = client(TransferMode::Bidirectional).await;
    c.json(json!({"type":"file_upload.start","transfer_id":"u","name":"u.bin","size":10})).await;
    assert_eq!(c.recv_json().await["type"], "file_upload.ready");
    c.data(b"123").await;
    let (end, dir, _root) = c.end().await;
    assert_eq!(end, TransferEnd::ClientClosed);
    assert_eq!(listing(&dir), vec!["ToClient"]);
}

#[tokio::test]
async fn the_transfer_directory_is_private_refuses_odd_session_ids_and_is_removed() {
    use std::os::unix::fs::PermissionsExt;
    let root = TempRoot::new();
    for bad in ["", "..", "a/b", "a b", "x\0"] {
        assert!(TransferDir::create(&root.0, bad).await.is_err(), "{bad:?}");
    }
    let dir = TransferDir::create(&root.0, "abc-123").await.expect("dir");
    assert!(dir.to_client().is_dir());
    assert_eq!(std::fs::metadata(dir.path()).expect("meta").permissions().mode() & 0o777, 0o700);
    let path = dir.path().to_path_buf();
    dir.remove().await;
    assert!(!path.exists());
    assert_eq!(TransferMode::parse("bidirectional"), Some(TransferMode::Bidirectional));
    assert_eq!(TransferMode::parse("both"), None);
}
