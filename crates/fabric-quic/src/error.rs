//! The crate's one error type. Each variant carries the channel spec's
//! failure reason (`code()`), which `Display` puts first (`<code>: <detail>`)
//! so the TypeScript wrapper can turn it into `MeshError.code`.

use crate::identity::Refusal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FabricError {
    /// Options, PEM, keys or a trust bundle that cannot be used.
    #[error("config_invalid: {0}")]
    ConfigInvalid(String),
    /// The UDP socket could not be opened or bound.
    #[error("bind_failed: {0}")]
    BindFailed(String),
    /// No connection to the next hop, a route that closed, or a dial that timed out.
    #[error("network_unreachable: {0}")]
    NetworkUnreachable(String),
    /// The class is unknown or not authorized with that node.
    #[error("channel_class_denied: {0}")]
    ChannelClassDenied(String),
    /// A certificate failed the cluster's checks: this node's own (at bind
    /// or renewal) or a peer's during or after a dial.
    #[error("{}: {message}", refusal.code())]
    Certificate { refusal: Refusal, message: String },
    /// A dial failed for another reason; `reason` is the spec's failure
    /// reason (see `connection::reason_from_error`).
    #[error("{reason}: {message}")]
    Handshake { reason: &'static str, message: String },
    /// A session stream ended other than by a clean finish: refused, reset
    /// by the other end or a relay, or its connection closed. `reason` is a
    /// `wire::StreamReason` name or, for a closed connection, its close reason.
    #[error("{reason}: {message}")]
    StreamEnded { reason: &'static str, message: String },
    /// The kernel refused a TUN device (no /dev/net/tun, no permission).
    #[error("tun_unavailable: {0}")]
    TunUnavailable(String),
    /// No VPN connection of that id is attached to this endpoint.
    #[error("vpn_connection_unknown: {0}")]
    VpnConnectionUnknown(String),
    /// A fencing epoch lower than one this node was already told.
    #[error("epoch_stale: {0}")]
    EpochStale(String),
}

impl From<fabric_tun::TunError> for FabricError {
    fn from(e: fabric_tun::TunError) -> FabricError {
        match e {
            fabric_tun::TunError::ConfigInvalid(m) => FabricError::ConfigInvalid(m),
            fabric_tun::TunError::Unavailable(m) => FabricError::TunUnavailable(m),
        }
    }
}

impl FabricError {
    /// The spec's failure reason.
    pub fn code(&self) -> &'static str {
        match self {
            FabricError::ConfigInvalid(_) => "config_invalid",
            FabricError::BindFailed(_) => "bind_failed",
            FabricError::NetworkUnreachable(_) => "network_unreachable",
            FabricError::ChannelClassDenied(_) => "channel_class_denied",
            FabricError::Certificate { refusal, .. } => refusal.code(),
            FabricError::Handshake { reason, .. } => reason,
            FabricError::StreamEnded { reason, .. } => reason,
            FabricError::TunUnavailable(_) => "tun_unavailable",
            FabricError::VpnConnectionUnknown(_) => "vpn_connection_unknown",
            FabricError::EpochStale(_) => "epoch_stale",
        }
    }

    /// The `FabricError` inside an `io::Error` a session stream returned.
    pub fn in_io(error: &std::io::Error) -> Option<&FabricError> {
        error.get_ref()?.downcast_ref::<FabricError>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_starts_with_the_code_the_wrapper_parses() {
        let cases = [
            (FabricError::ConfigInvalid("key: bad".into()), "config_invalid", "config_invalid: key: bad"),
            (
                FabricError::NetworkUnreachable("no connection to b".into()),
                "network_unreachable",
                "network_unreachable: no connection to b",
            ),
            (
                FabricError::Certificate { refusal: Refusal::WrongNode, message: "names node x".into() },
                "wrong_node",
                "wrong_node: names node x",
            ),
            (
                FabricError::Handshake { reason: "tls_handshake_failed", message: "alert".into() },
                "tls_handshake_failed",
                "tls_handshake_failed: alert",
            ),
            (
                FabricError::StreamEnded { reason: "session_not_served", message: "reset by the other end".into() },
                "session_not_served",
                "session_not_served: reset by the other end",
            ),
        ];
        for (error, code, text) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn the_error_inside_an_io_error_is_found_again() {
        let inner = FabricError::StreamEnded { reason: "session_ended", message: "m".into() };
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, inner.clone());
        assert_eq!(FabricError::in_io(&io), Some(&inner));
        assert_eq!(FabricError::in_io(&std::io::Error::other("plain")), None);
    }
}
