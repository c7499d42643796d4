//! A cancel-safe frame reader for `select!` loops: the decoder keeps partial
//! frames between polls, so a branch that loses a race loses no bytes.

use session_frame::{Frame, FrameDecoder, FrameError};
use tokio::io::{AsyncRead, AsyncReadExt};

const READ_CHUNK: usize = 16 * 1024;

pub(crate) struct FrameReader<R> {
    input: R,
    decoder: FrameDecoder,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader { input, decoder: FrameDecoder::new(), buf: vec![0u8; READ_CHUNK] }
    }

    /// The next frame; `Ok(None)` when the stream ended (or failed: the client is gone either way).
    pub async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            match self.input.read(&mut self.buf).await {
                Ok(0) | Err(_) => return Ok(None),
                Ok(n) => self.decoder.push(&self.buf[..n]),
            }
        }
    }
}
