//! Errors with a stable code first (`<code>: <detail>`), the form the mesh
//! addon's TypeScript wrapper turns into `code`.

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// Bad options: a name, MTU, address or CIDR that cannot be used. Nothing was created.
    #[error("config_invalid: {0}")]
    ConfigInvalid(String),
    /// The kernel refused the device (no /dev/net/tun, no permission, name taken).
    #[error("tun_unavailable: {0}")]
    Unavailable(String),
}
