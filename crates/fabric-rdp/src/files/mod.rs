//! File transfer on the session's `file_transfer` stream (`docs/protocol.md`
//! §RDP): uploads into, and downloads out of, the per-session transfer
//! directory on the adapter node, which the RDP connection redirects to the
//! target as the drive `RAP_Transfers`. The remote user sees uploads at the
//! drive's top and puts files for the browser into its `ToClient` folder.
//!
//! Limits are the spec's: 25 MiB per file, DATA chunks of at most 256 KiB,
//! safe names, one transfer per direction at a time, and only while the
//! attachment is the session's controller. Memory stays bounded: uploads
//! are streamed to a hidden `.partial` file and hashed while written, then
//! renamed without overwriting; downloads are read a chunk at a time.

mod names;
mod protocol;

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::watch;

pub use names::{is_safe_name, numbered, MAX_NAME_BYTES};

/// The largest file either way.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// The largest DATA chunk either way.
pub const MAX_CHUNK_BYTES: usize = 256 * 1024;
/// The folder of the transfer directory that downloads come from.
pub const TO_CLIENT: &str = "ToClient";

/// The resource's `file_transfer_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransferMode {
    #[default]
    Disabled,
    /// Uploads only.
    ClientToServer,
    /// Downloads only.
    ServerToClient,
    Bidirectional,
}

impl TransferMode {
    /// The resource policy's names; `None` for anything else.
    pub fn parse(s: &str) -> Option<TransferMode> {
        match s {
            "disabled" => Some(TransferMode::Disabled),
            "client_to_server" => Some(TransferMode::ClientToServer),
            "server_to_client" => Some(TransferMode::ServerToClient),
            "bidirectional" => Some(TransferMode::Bidirectional),
            _ => None,
        }
    }

    pub fn uploads(self) -> bool {
        matches!(self, TransferMode::ClientToServer | TransferMode::Bidirectional)
    }

    pub fn downloads(self) -> bool {
        matches!(self, TransferMode::ServerToClient | TransferMode::Bidirectional)
    }
}

/// Where the attachment that owns the stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachState {
    /// The session's current controller: transfers allowed.
    Controller,
    /// The client detached: a download in progress ends with `file_download.blocked`.
    Detached,
    /// A newer attachment took over: transfers end with `session.taken_over`.
    TakenOver,
}

/// Why [`serve`] returned. No transfer is left half-done: an unfinished upload's `.partial` file is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEnd {
    /// The client closed its side (or the read failed).
    ClientClosed,
    Detached,
    TakenOver,
    /// A frame that breaks the framing; the client was told `protocol.malformed_frame`.
    Malformed,
    /// Writing to the client failed.
    OutputClosed,
}

/// `<root>/<session id>/` with its `ToClient/` folder, private to the adapter's user.
#[derive(Debug)]
pub struct TransferDir {
    path: PathBuf,
}

/// Session ids are UUIDs; anything that is not a plain token could escape the root.
fn is_safe_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TransferDir {
    pub async fn create(root: &Path, session_id: &str) -> io::Result<TransferDir> {
        if !is_safe_session_id(session_id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a session id is letters, digits, '-' and '_'"));
        }
        let path = root.join(session_id);
        tokio::fs::create_dir_all(path.join(TO_CLIENT)).await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).await?;
        }
        Ok(TransferDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn to_client(&self) -> PathBuf {
        self.path.join(TO_CLIENT)
    }

    /// Removes the folder and everything in it (the session ended). Best effort: nothing to report to.
    pub async fn remove(self) {
        let _ = tokio::fs::remove_dir_all(&self.path).await;
    }
}

/// Serves one attachment's file_transfer stream (after its kind byte) until
/// it ends; `lifecycle` says when the client detached (→
/// `file_download.blocked`) or was taken over (→ `session.taken_over`).
/// Every refusal is a JSON error frame with a stable code; the stream goes on
/// unless the framing itself broke.
pub async fn serve<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    dir: &TransferDir,
    mode: TransferMode,
    mut input: R,
    output: W,
    mut lifecycle: watch::Receiver<AttachState>,
) -> TransferEnd {
    let mut s = protocol::Transfers::new(dir, mode, output);
    let initial = *lifecycle.borrow_and_update();
    if let Some(end) = s.on_lifecycle(initial).await {
        return end;
    }
    let mut decoder = session_frame::FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            biased;
            changed = lifecycle.changed() => {
                // A dropped sender means the session is gone: the same as a detach.
                let state = if changed.is_ok() { *lifecycle.borrow_and_update() } else { AttachState::Detached };
                if let Some(end) = s.on_lifecycle(state).await {
                    return end;
                }
            }
            read = input.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return s.close(TransferEnd::ClientClosed).await,
                    Ok(n) => n,
                };
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            if let Err(end) = s.on_frame(frame).await {
                                return end;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return s.malformed(e.code()).await,
                    }
                }
            }
            _ = std::future::ready(()), if s.downloading() => {
                if let Err(end) = s.send_next_chunk().await {
                    return end;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
