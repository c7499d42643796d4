//! Dial streams: TCP to a target through a VPN connection's current owner,
//! for the managed sessions (SSH, RDP) whose resource names the connection
//! (docs/vpn.md, "Managed sessions through a connection").
//!
//! The adapter node opens a session stream of class `vpn_packet` to the owner
//! (routed and relayed like any session stream) and writes a `DialRequest`:
//! connection, fencing epoch, service, target host and port. The owner
//! answers only while that connection is attached here under exactly that
//! epoch, the connection lets the service dial, and the target's address
//! passes the connection's egress filter (allowed ranges, deny wins): then it
//! opens TCP (its namespace routes the allowed ranges into the WireGuard
//! tunnel), sends one `CONNECTED` byte and copies bytes both ways in Rust. A
//! refusal is a reset with a `StreamReason` (`vpn_not_owner`, `vpn_denied`,
//! `vpn_dial_failed`) that reaches the adapter through any relay. A fence or
//! a new epoch ends open dial streams at once (`vpn_not_owner`), so a session
//! never keeps running through an owner that lost its lease; a new attempt
//! follows the new owner.

use crate::class::Class;
use crate::endpoint::Endpoint;
use crate::error::FabricError;
use crate::session_stream::SessionStream;
use crate::vpn_dial_wire::{ended, DialRequest, ANSWER_TIMEOUT, CONNECTED};
use crate::vpn_table::DialPolicy;
use crate::wire::{SessionId, StreamReason};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

impl Endpoint {
    /// Opens TCP to `request.host:port` through `owner`, the node holding the
    /// lease of `request.connection_id` under `request.epoch`. Resolves once
    /// the owner has connected; the stream then carries the TCP bytes both
    /// ways. A refusal is a `StreamEnded` error whose reason says why
    /// (`vpn_not_owner`, `vpn_denied`, `vpn_dial_failed`, or the mesh's own:
    /// `channel_class_denied`, `network_unreachable`, …).
    pub async fn vpn_dial(&self, owner: &str, session_id: SessionId, request: &DialRequest) -> Result<SessionStream, FabricError> {
        let encoded = request.encode()?;
        let mut stream = self.open_session_stream(owner, Class::VpnPacket, session_id, [0; 16]).await?;
        stream.write_all(&encoded).await.map_err(|e| ended(&e, "sending the dial request"))?;
        let mut answer = [0u8; 1];
        match tokio::time::timeout(ANSWER_TIMEOUT, stream.read_exact(&mut answer)).await {
            Err(_) => {
                stream.abort(StreamReason::Closed);
                Err(FabricError::NetworkUnreachable(format!("no answer from the VPN owner {owner} within {}s", ANSWER_TIMEOUT.as_secs())))
            }
            Ok(Err(e)) => Err(ended(&e, "waiting for the VPN owner's answer")),
            Ok(Ok(_)) if answer[0] == CONNECTED => Ok(stream),
            Ok(Ok(_)) => {
                stream.abort(StreamReason::Protocol);
                Err(FabricError::StreamEnded {
                    reason: StreamReason::Protocol.name(),
                    message: "the VPN owner answered with an unknown byte".into(),
                })
            }
        }
    }

    /// Who may open TCP through this owner for connection `id`: `services`
    /// (`ssh`, `rdp`: the routing policy's) from the nodes in `nodes` (the
    /// organization's adapter nodes), for the resources in `resource_ids`
    /// (empty: any). Until set, nobody.
    pub fn vpn_set_dial_policy(&self, id: &str, policy: DialPolicy) -> Result<(), FabricError> {
        let conn = self.shared.vpn.get(id)?;
        *conn.dial.write().unwrap() = Arc::new(policy);
        Ok(())
    }
}
