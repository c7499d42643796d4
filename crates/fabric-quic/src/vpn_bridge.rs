//! The adapter side of a dial stream: a one-connection loopback listener
//! whose accepted TCP is spliced onto the stream in Rust, so the SSH and RDP
//! clients (crates/fabric-ssh, crates/fabric-rdp) connect as they always do,
//! to `127.0.0.1:<port>` instead of the target.
//!
//! It takes exactly one connection within `ACCEPT_WINDOW` and closes the
//! listener: the port exists only between the dial and the client's connect
//! on this node. The session's host key or certificate pin still checks the
//! target end to end, so whatever connects here cannot pose as the target.

use crate::session_stream::SessionStream;
use crate::wire::StreamReason;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long the client has to connect after the dial succeeded.
const ACCEPT_WINDOW: Duration = Duration::from_secs(30);

/// Listens on a fresh loopback port, returns it, and splices its first connection onto `stream`.
pub(crate) async fn bridge(mut stream: SessionStream) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let Ok(Ok((mut tcp, _))) = tokio::time::timeout(ACCEPT_WINDOW, listener.accept()).await else {
            return stream.abort(StreamReason::Closed);
        };
        drop(listener);
        let _ = tcp.set_nodelay(true);
        // Ends when either side ends: a fenced owner's reset closes the client's TCP.
        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut stream).await;
    });
    Ok(address)
}
