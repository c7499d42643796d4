//! The transfer state of one file_transfer stream: at most one upload and
//! one download, each with its file and running hash. Every client message
//! gets its answer or a refusal; a handler ends the stream only when writing
//! to the client failed.

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use session_frame::{Frame, FrameType};
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{
    is_safe_name, names::MAX_SUFFIX, numbered, AttachState, TransferDir, TransferEnd, TransferMode, MAX_CHUNK_BYTES, MAX_FILE_BYTES,
};
use crate::clipboard_bridge::hex;
use crate::render_wire::notice;

/// A refusal: its stable code and the text for people.
struct Refusal(&'static str, String);

/// Why a handler stopped: a refusal for the client (the stream goes on) or the end of the stream.
enum Fail {
    Refused(Refusal),
    End(TransferEnd),
}

impl From<Refusal> for Fail {
    fn from(r: Refusal) -> Fail {
        Fail::Refused(r)
    }
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal(code, message.into())
}

fn invalid(message: &str) -> Refusal {
    refuse("protocol.invalid_message", message)
}

fn io_failed() -> Refusal {
    // The cause stays out of the message: it would name adapter paths.
    refuse("file_transfer.failed", "The file could not be written or read on the remote side.")
}

/// The JSON object `{"type":"file_…","transfer_id":…}` plus `fields`.
fn message(kind: &str, id: &str, fields: Value) -> Value {
    let mut v = json!({"type": kind, "transfer_id": id});
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), fields) {
        obj.extend(more);
    }
    v
}

struct Upload {
    id: String,
    name: String,
    size: u64,
    received: u64,
    file: File,
    partial: PathBuf,
    hasher: Sha256,
}

struct Download {
    id: String,
    size: u64,
    sent: u64,
    file: File,
    hasher: Sha256,
    buf: Vec<u8>,
}

pub(super) struct Transfers<'a, W> {
    dir: &'a TransferDir,
    mode: TransferMode,
    out: W,
    upload: Option<Upload>,
    download: Option<Download>,
    /// An upload refused midway: its DATA still in flight and its end are dropped quietly.
    discarding: Option<String>,
}

fn transfer_id(msg: &Map<String, Value>) -> Result<String, Refusal> {
    msg.get("transfer_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_owned)
        .ok_or_else(|| invalid("transfer_id must be 1 to 64 letters, digits, '-' or '_'"))
}

fn file_name(msg: &Map<String, Value>) -> Result<String, Refusal> {
    msg.get("name").and_then(Value::as_str).filter(|n| is_safe_name(n)).map(str::to_owned).ok_or_else(|| {
        refuse("file_transfer.name_invalid", "File names are 1 to 255 bytes without / \\ or control characters, not starting with a dot.")
    })
}

impl<'a, W: AsyncWrite + Unpin> Transfers<'a, W> {
    pub(super) fn new(dir: &'a TransferDir, mode: TransferMode, out: W) -> Self {
        Transfers { dir, mode, out, upload: None, download: None, discarding: None }
    }

    pub(super) fn downloading(&self) -> bool {
        self.download.is_some()
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), TransferEnd> {
        let ok = session_frame::write_frame(&mut self.out, frame).await.is_ok() && self.out.flush().await.is_ok();
        if ok {
            Ok(())
        } else {
            Err(self.close(TransferEnd::OutputClosed).await)
        }
    }

    async fn send_json(&mut self, v: Value) -> Result<(), Fail> {
        self.send(&Frame::json(&v)).await.map_err(Fail::End)
    }

    async fn send_error(&mut self, id: Option<&str>, r: Refusal) -> Result<(), TransferEnd> {
        let mut v = notice(r.0, &r.1);
        if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
            obj.insert("transfer_id".into(), Value::from(id));
        }
        self.send(&Frame::json(&v)).await
    }

    /// Ends every transfer (an upload's partial file removed) and returns `end`.
    pub(super) async fn close(&mut self, end: TransferEnd) -> TransferEnd {
        self.abort_upload().await;
        self.download = None;
        end
    }

    /// Drops the upload and its partial file; its remaining DATA will be discarded quietly.
    async fn abort_upload(&mut self) {
        if let Some(u) = self.upload.take() {
            drop(u.file);
            let _ = tokio::fs::remove_file(&u.partial).await;
            self.discarding = Some(u.id);
        }
    }

    pub(super) async fn malformed(&mut self, code: &'static str) -> TransferEnd {
        let _ = self.send_error(None, refuse(code, "The file transfer stream carried a broken frame; it is closed.")).await;
        self.close(TransferEnd::Malformed).await
    }

    /// `Some(end)` when the attachment is no longer the controller.
    pub(super) async fn on_lifecycle(&mut self, state: AttachState) -> Option<TransferEnd> {
        match state {
            AttachState::Controller => None,
            AttachState::Detached => {
                if let Some(d) = self.download.take() {
                    let r = refuse("file_download.blocked", "The download stopped because this window detached from the session.");
                    let _ = self.send_error(Some(&d.id), r).await;
                }
                Some(self.close(TransferEnd::Detached).await)
            }
            AttachState::TakenOver => {
                let ids: Vec<String> = self.upload.iter().map(|u| u.id.clone()).chain(self.download.iter().map(|d| d.id.clone())).collect();
                let text = "The session was taken over on another device; its file transfers ended.";
                if ids.is_empty() {
                    let _ = self.send_error(None, refuse("session.taken_over", text)).await;
                }
                for id in ids {
                    let _ = self.send_error(Some(&id), refuse("session.taken_over", text)).await;
                }
                Some(self.close(TransferEnd::TakenOver).await)
            }
        }
    }

    pub(super) async fn on_frame(&mut self, frame: Frame) -> Result<(), TransferEnd> {
        let (id, result) = if frame.kind == FrameType::Data {
            (self.upload.as_ref().map(|u| u.id.clone()), self.on_data(&frame.payload).await)
        } else {
            match frame.parse_json() {
                Ok(msg) => (msg.get("transfer_id").and_then(Value::as_str).map(str::to_owned), self.on_message(&msg).await),
                Err(e) => (None, Err(refuse(e.code(), "A file transfer message must be a JSON object with a type.").into())),
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(Fail::Refused(r)) => self.send_error(id.as_deref(), r).await,
            Err(Fail::End(end)) => Err(end),
        }
    }

    async fn on_message(&mut self, msg: &Map<String, Value>) -> Result<(), Fail> {
        let id = msg.get("transfer_id").and_then(Value::as_str);
        match msg.get("type").and_then(Value::as_str).unwrap_or_default() {
            "file_upload.start" => self.upload_start(msg).await,
            "file_upload.end" => self.upload_end(msg).await,
            "file_upload.cancel" => {
                if self.upload.as_ref().is_some_and(|u| Some(u.id.as_str()) == id) {
                    self.abort_upload().await;
                }
                Ok(())
            }
            "file_download.list" => self.download_list().await,
            "file_download.start" => self.download_start(msg).await,
            "file_download.cancel" => {
                if self.download.as_ref().is_some_and(|d| Some(d.id.as_str()) == id) {
                    self.download = None;
                }
                Ok(())
            }
            other => Err(refuse("protocol.unknown_message", format!("unknown file transfer message {other:?}")).into()),
        }
    }

    async fn upload_start(&mut self, msg: &Map<String, Value>) -> Result<(), Fail> {
        let id = transfer_id(msg)?;
        if !self.mode.uploads() {
            return Err(refuse("file_transfer.direction_refused", "Uploads are not allowed for this resource.").into());
        }
        if self.upload.is_some() {
            return Err(refuse("file_transfer.busy", "Another upload is in progress; wait for it to finish.").into());
        }
        let name = file_name(msg)?;
        let size = msg.get("size").and_then(Value::as_u64).ok_or_else(|| invalid("size must be a whole number of bytes"))?;
        if size > MAX_FILE_BYTES {
            return Err(refuse("file_upload.too_large", "Files are limited to 25 MiB.").into());
        }
        self.discarding = None;
        // Named by the transfer id, not the file name (which may already be 255 bytes); hidden from listings.
        let partial = self.dir.path().join(format!(".rap-upload-{id}.partial"));
        let file = File::create(&partial).await.map_err(|_| io_failed())?;
        self.upload = Some(Upload { id: id.clone(), name, size, received: 0, file, partial, hasher: Sha256::new() });
        self.send_json(message("file_upload.ready", &id, json!({}))).await
    }

    async fn on_data(&mut self, chunk: &[u8]) -> Result<(), Fail> {
        let Some(u) = self.upload.as_mut() else {
            if self.discarding.is_some() {
                return Ok(());
            }
            return Err(invalid("a DATA chunk without an upload in progress").into());
        };
        let refusal = if chunk.len() > MAX_CHUNK_BYTES {
            Some(refuse("file_transfer.chunk_too_large", "File chunks are limited to 256 KiB."))
        } else if u.received + chunk.len() as u64 > u.size {
            Some(refuse("file_upload.too_large", "The upload sent more bytes than it announced."))
        } else if u.file.write_all(chunk).await.is_err() {
            Some(io_failed())
        } else {
            u.hasher.update(chunk);
            u.received += chunk.len() as u64;
            None
        };
        match refusal {
            Some(r) => {
                self.abort_upload().await;
                Err(r.into())
            }
            None => Ok(()),
        }
    }

    async fn upload_end(&mut self, msg: &Map<String, Value>) -> Result<(), Fail> {
        let id = transfer_id(msg)?;
        if self.discarding.as_deref() == Some(id.as_str()) {
            self.discarding = None;
            return Ok(());
        }
        let Some(u) = self.upload.as_ref().filter(|u| u.id == id) else {
            return Err(invalid("file_upload.end for no upload in progress").into());
        };
        let claimed = msg.get("sha256").and_then(Value::as_str).map(str::to_ascii_lowercase);
        let refusal = if u.received < u.size {
            Some(invalid("the upload ended before all its bytes arrived"))
        } else if claimed.as_deref() != Some(hex(&u.hasher.clone().finalize()).as_str()) {
            Some(refuse("file_upload.hash_mismatch", "The uploaded file does not match its SHA-256; it was not kept."))
        } else {
            None
        };
        if let Some(r) = refusal {
            self.abort_upload().await;
            self.discarding = None;
            return Err(r.into());
        }
        let Some(mut u) = self.upload.take() else { return Ok(()) };
        let sha256 = hex(&u.hasher.finalize_reset());
        let placed = match u.file.sync_all().await {
            Ok(()) => self.place(&u.partial, &u.name).await,
            Err(_) => None,
        };
        drop(u.file);
        let _ = tokio::fs::remove_file(&u.partial).await;
        let name = placed.ok_or_else(io_failed)?;
        self.send_json(message("file_upload.done", &id, json!({"name": name, "size": u.size, "sha256": sha256}))).await
    }

    /// Links the finished file under its name, or the first free ` (n)` variant; never overwrites.
    async fn place(&self, partial: &std::path::Path, name: &str) -> Option<String> {
        for n in 0..=MAX_SUFFIX {
            let candidate = numbered(name, n);
            match tokio::fs::hard_link(partial, self.dir.path().join(&candidate)).await {
                Ok(()) => return Some(candidate),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => return None,
            }
        }
        None
    }

    async fn download_list(&mut self) -> Result<(), Fail> {
        if !self.mode.downloads() {
            return Err(refuse("file_transfer.direction_refused", "Downloads are not allowed for this resource.").into());
        }
        let mut entries = tokio::fs::read_dir(self.dir.to_client()).await.map_err(|_| io_failed())?;
        let mut files = vec![];
        while let Ok(Some(e)) = entries.next_entry().await {
            let (Ok(name), Ok(meta)) = (e.file_name().into_string(), e.metadata().await) else { continue };
            // DirEntry::metadata does not follow symlinks: links (which could point anywhere) are not offered.
            if meta.is_file() && is_safe_name(&name) {
                files.push((name, meta.len()));
            }
        }
        files.sort();
        // The answer must fit one JSON frame: list what fits and say so.
        let mut listed = vec![];
        let mut size = 100;
        let mut truncated = false;
        for (name, len) in files {
            size += name.len() * 2 + 40; // escaping at most doubles a name
            if size > session_frame::MAX_JSON_LEN - 1024 {
                truncated = true;
                break;
            }
            listed.push(json!({"name": name, "size": len}));
        }
        self.send_json(json!({"type": "file_download.files", "files": listed, "truncated": truncated})).await
    }

    async fn download_start(&mut self, msg: &Map<String, Value>) -> Result<(), Fail> {
        let id = transfer_id(msg)?;
        if !self.mode.downloads() {
            return Err(refuse("file_transfer.direction_refused", "Downloads are not allowed for this resource.").into());
        }
        if self.download.is_some() {
            return Err(refuse("file_transfer.busy", "Another download is in progress; wait for it to finish.").into());
        }
        let name = file_name(msg)?;
        let path = self.dir.to_client().join(&name);
        let not_found = || refuse("file_download.not_found", "There is no such file in the ToClient folder.");
        let meta = tokio::fs::symlink_metadata(&path).await.map_err(|_| not_found())?;
        if !meta.is_file() {
            return Err(not_found().into());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(refuse("file_download.too_large", "Files are limited to 25 MiB.").into());
        }
        let file = File::open(&path).await.map_err(|_| not_found())?;
        let size = meta.len();
        self.send_json(message("file_download.begin", &id, json!({"name": name, "size": size}))).await?;
        let buf = vec![0; MAX_CHUNK_BYTES.min(size as usize)];
        self.download = Some(Download { id, size, sent: 0, file, hasher: Sha256::new(), buf });
        Ok(())
    }

    /// The next chunk of the download in progress, then its end message after the last one.
    pub(super) async fn send_next_chunk(&mut self) -> Result<(), TransferEnd> {
        let Some(d) = self.download.as_mut() else { return Ok(()) };
        let want = (d.size - d.sent).min(d.buf.len() as u64) as usize;
        let mut got = 0;
        while got < want {
            match d.file.read(&mut d.buf[got..want]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        if got < want {
            // The file shrank or became unreadable after `begin`: the client must not get a short file.
            let id = d.id.clone();
            self.download = None;
            return self.send_error(Some(&id), io_failed()).await;
        }
        d.hasher.update(&d.buf[..got]);
        d.sent += got as u64;
        let frame = Frame::data(d.buf[..got].to_vec());
        let done = d.sent == d.size;
        if want > 0 {
            self.send(&frame).await?;
        }
        if done {
            if let Some(d) = self.download.take() {
                let end = message("file_download.end", &d.id, json!({"sha256": hex(&d.hasher.finalize())}));
                self.send(&Frame::json(&end)).await?;
            }
        }
        Ok(())
    }
}
