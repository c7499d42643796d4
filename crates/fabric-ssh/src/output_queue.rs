//! Terminal output not yet written to a client, in arrival order. While a
//! client is attached it is the outbox (bounded by back-pressure on the SSH
//! channel); while nobody is, it is the replay buffer, which keeps only the
//! most recent bytes. Pure: no IO, no clock.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// The largest DATA payload the adapter writes to a render stream.
pub const RENDER_FRAME_MAX: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl OutputQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Drops the oldest bytes until at most `limit` remain. The cut may fall
    /// inside an escape sequence or a UTF-8 character: a terminal shows a
    /// stray glyph at worst, and memory stays bounded.
    pub(crate) fn keep_last(&mut self, limit: usize) {
        while self.len > limit {
            let excess = self.len - limit;
            let Some(front) = self.chunks.front_mut() else { break };
            if front.len() <= excess {
                self.len -= front.len();
                self.chunks.pop_front();
            } else {
                let _ = front.split_to(excess);
                self.len -= excess;
            }
        }
    }

    /// Everything queued, as payloads of at most `max` bytes (small chunks
    /// joined, large ones split), oldest first; the queue is left empty.
    pub(crate) fn take_payloads(&mut self, max: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut joined = BytesMut::new();
        for mut chunk in self.chunks.drain(..) {
            while !chunk.is_empty() {
                let room = max - joined.len();
                let piece = chunk.split_to(room.min(chunk.len()));
                joined.extend_from_slice(&piece);
                if joined.len() == max {
                    out.push(joined.split().freeze());
                }
            }
        }
        if !joined.is_empty() {
            out.push(joined.freeze());
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(chunks: &[&[u8]]) -> OutputQueue {
        let mut q = OutputQueue::default();
        for c in chunks {
            q.push(Bytes::copy_from_slice(c));
        }
        q
    }

    #[test]
    fn keep_last_drops_the_oldest_bytes_even_inside_a_chunk() {
        let mut q = queue(&[b"abc", b"defg", b"hi"]);
        assert_eq!(q.len(), 9);
        q.keep_last(5);
        assert_eq!(q.len(), 5);
        assert_eq!(q.take_payloads(100), vec![Bytes::from_static(b"efghi")]);
        assert!(q.is_empty());
        let mut q = queue(&[b"abc"]);
        q.keep_last(0);
        assert!(q.is_empty());
    }

    #[test]
    fn payloads_join_small_chunks_and_split_large_ones_at_the_limit() {
        let big = vec![7u8; 2 * RENDER_FRAME_MAX + 10];
        let mut q = queue(&[b"ab", &big, b"c"]);
        let payloads = q.take_payloads(RENDER_FRAME_MAX);
        let sizes: Vec<usize> = payloads.iter().map(|p| p.len()).collect();
        assert_eq!(sizes, vec![RENDER_FRAME_MAX, RENDER_FRAME_MAX, 13]);
        let all: Vec<u8> = payloads.concat();
        assert_eq!(&all[..2], b"ab");
        assert_eq!(all.last(), Some(&b'c'));
        assert_eq!(all.len(), 2 * RENDER_FRAME_MAX + 13);
        assert_eq!(q.len(), 0);
        assert!(queue(&[b""]).take_payloads(4).is_empty());
    }
}
