//! The adapter side of a dial stream: a connected loopback TCP pair whose one
//! end is spliced onto the stream in Rust and whose other end is handed to the
//! SSH or RDP client (crates/fabric-ssh `start_over`, crates/fabric-rdp
//! `start_over`) as its already-open connection to the target.
//!
//! A pair rather than a listening port the client connects to: the listener
//! exists only while this node connects to itself, and the accepted
//! connection is kept only when its peer is exactly the socket this node
//! connected from, so no other local process can take the stream's place.

use crate::session_stream::SessionStream;
use crate::wire::StreamReason;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long making the pair may take (two loopback handshakes).
const PAIR_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections to the short-lived listener that are not ours, skipped before giving up.
const MAX_STRANGERS: usize = 8;

/// A loopback connection whose far end carries `stream`; the caller speaks SSH or RDP over it.
pub(crate) async fn bridge(mut stream: SessionStream) -> std::io::Result<TcpStream> {
    let pair = tokio::time::timeout(PAIR_TIMEOUT, loopback_pair()).await;
    let (client, mut server) = match pair {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            stream.abort(StreamReason::Closed);
            return Err(e);
        }
        Err(_) => {
            stream.abort(StreamReason::Closed);
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the loopback pair was not made in time"));
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::spawn(async move {
        // Ends when either side ends: a fenced owner's reset closes the client's connection.
        let _ = tokio::io::copy_bidirectional(&mut server, &mut stream).await;
    });
    Ok(client)
}

/// Two ends of one loopback TCP connection made by this process: connections
/// from any other socket that reach the listener meanwhile are dropped.
async fn loopback_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let (client, first) = tokio::join!(TcpStream::connect(listener.local_addr()?), listener.accept());
    let client = client?;
    let ours = client.local_addr()?;
    let (mut tcp, mut peer) = first?;
    for _ in 0..MAX_STRANGERS {
        if peer == ours {
            return Ok((client, tcp));
        }
        drop(tcp);
        (tcp, peer) = listener.accept().await?;
    }
    Err(std::io::Error::other("too many foreign connections to the loopback bridge"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_pair_is_the_two_ends_of_one_loopback_connection() {
        let (mut client, mut server) = loopback_pair().await.expect("a loopback pair");
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        client.write_all(b"ssh-2.0").await.unwrap();
        let mut got = [0u8; 7];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ssh-2.0");
        server.write_all(b"ok").await.unwrap();
        let mut back = [0u8; 2];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ok");
    }
}
