//! The VPN half of the napi surface: TUN devices (`createTun`) and the pump
//! that joins one to the mesh (`vpnAttach` and friends on `MeshEndpoint`).
//! A child of `napi`, so it reaches `MeshEndpoint`'s endpoint directly.

use super::{invalid, to_napi, MeshEndpoint};
use fabric_tun::{Tun, TunOptions};
use napi::bindgen_prelude::*;
use napi::{Env, JsObject};
use napi_derive::napi;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

#[napi(object)]
pub struct TunCreateOptions {
    /// Interface name (1–15 bytes); default: the kernel's `tunN`.
    pub name: Option<String>,
    /// Default 1280 (what a mesh datagram carries on a 1500-byte path with room to spare).
    pub mtu: Option<u32>,
    /// `a.b.c.d/prefix` addresses; the first is the primary.
    pub ipv4: Option<Vec<String>>,
    /// Kernel queues (default 1).
    pub queues: Option<u32>,
    /// Virtio offloads (TSO/USO, GSO reads, GRO writes); default true, kept off when the kernel refuses.
    pub offload: Option<bool>,
}

fn ipv4(text: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || invalid(format!("tun address {text:?}: expected a.b.c.d/prefix"));
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    Ok((addr.parse().map_err(|_| bad())?, prefix.parse().map_err(|_| bad())?))
}

fn tun_options(o: TunCreateOptions) -> Result<TunOptions> {
    Ok(TunOptions {
        name: o.name,
        mtu: u16::try_from(o.mtu.unwrap_or(1280)).map_err(|_| invalid("tun mtu above 65535"))?,
        ipv4: o.ipv4.unwrap_or_default().iter().map(|a| ipv4(a)).collect::<Result<_>>()?,
        queues: o.queues.unwrap_or(1) as usize,
        offload: o.offload.unwrap_or(true),
    })
}

/// A TUN device; closed by `close()` (and by garbage collection), after the pumps using it stopped.
#[napi]
pub struct TunDevice {
    tun: Mutex<Option<Arc<Tun>>>,
}

impl TunDevice {
    fn get(&self) -> Result<Arc<Tun>> {
        self.tun.lock().ok().and_then(|t| t.clone()).ok_or_else(|| invalid("the tun device is closed"))
    }
}

/// Creates a TUN device in this process's network namespace.
#[napi(ts_return_type = "Promise<TunDevice>")]
pub fn create_tun(env: Env, options: TunCreateOptions) -> Result<JsObject> {
    let opts = tun_options(options)?;
    env.spawn_future(async move {
        let tun = Tun::create(&opts).map_err(|e| to_napi(e.into()))?;
        Ok(TunDevice { tun: Mutex::new(Some(Arc::new(tun))) })
    })
}

#[napi]
impl TunDevice {
    /// `{ name, ifindex, mtu, queues, offload, tcp_gso, udp_gso }` as JSON.
    #[napi]
    pub fn info(&self) -> Result<String> {
        let tun = self.get()?;
        let (offload, tcp, udp) = tun.offload();
        Ok(serde_json::json!({
            "name": tun.name(), "ifindex": tun.ifindex(), "mtu": tun.mtu(), "queues": tun.queues().len(),
            "offload": offload, "tcp_gso": tcp, "udp_gso": udp,
        })
        .to_string())
    }

    /// Drops this handle; the interface goes away once no pump holds its queues.
    #[napi]
    pub fn close(&self) {
        if let Ok(mut t) = self.tun.lock() {
            t.take();
        }
    }
}

#[napi]
impl MeshEndpoint {
    /// Joins `device` to the mesh as VPN connection `connection` (nothing moves before `vpnSetEpoch`).
    #[napi]
    pub fn vpn_attach(&self, connection: String, device: &TunDevice) -> Result<()> {
        let tun = device.get()?;
        self.inner.vpn_attach(&connection, &tun).map_err(to_napi)
    }

    #[napi]
    pub fn vpn_detach(&self, connection: String) -> Result<()> {
        self.inner.vpn_detach(&connection).map_err(to_napi)
    }

    /// The lease's fencing epoch (a safe integer ≥ 1); an older one than already seen is refused (`epoch_stale`).
    #[napi]
    pub fn vpn_set_epoch(&self, connection: String, epoch: i64) -> Result<()> {
        let epoch = u64::try_from(epoch).map_err(|_| invalid("an epoch is a positive integer"))?;
        self.inner.vpn_set_epoch(&connection, epoch).map_err(to_napi)
    }

    /// Lets `epoch` pass for `ms` more milliseconds, then stops it by itself unless held again; false when
    /// `epoch` is not the current one.
    #[napi]
    pub fn vpn_hold_until(&self, connection: String, epoch: i64, ms: i64) -> Result<bool> {
        let epoch = u64::try_from(epoch).map_err(|_| invalid("an epoch is a positive integer"))?;
        let ms = u64::try_from(ms).map_err(|_| invalid("a hold is a number of milliseconds, at least 0"))?;
        self.inner.vpn_hold_until(&connection, epoch, std::time::Duration::from_millis(ms)).map_err(to_napi)
    }

    #[napi]
    pub fn vpn_fence(&self, connection: String) -> Result<()> {
        self.inner.vpn_fence(&connection).map_err(to_napi)
    }

    /// `routes` are `[cidr, nodeId]` pairs: destinations sent to that node, and the sources it may send from.
    #[napi]
    pub fn vpn_set_routes(&self, connection: String, routes: Vec<Vec<String>>) -> Result<()> {
        let pairs = routes
            .into_iter()
            .map(|p| match p.as_slice() {
                [cidr, node] => Ok((cidr.clone(), node.clone())),
                _ => Err(invalid("a vpn route is a [cidr, nodeId] pair")),
            })
            .collect::<Result<Vec<_>>>()?;
        self.inner.vpn_set_routes(&connection, &pairs).map_err(to_napi)
    }

    #[napi]
    pub fn vpn_set_filter(&self, connection: String, allow: Vec<String>, deny: Vec<String>) -> Result<()> {
        self.inner.vpn_set_filter(&connection, &allow, &deny).map_err(to_napi)
    }

    /// Which services (`ssh`, `rdp`) may open TCP through this owner for `connection`, from which nodes (dial streams).
    #[napi]
    pub fn vpn_set_dial_policy(
        &self,
        connection: String,
        services: Vec<String>,
        nodes: Vec<String>,
        resource_ids: Vec<String>,
    ) -> Result<()> {
        let policy = crate::vpn_table::DialPolicy { services, nodes: nodes.into_iter().collect(), resource_ids };
        self.inner.vpn_set_dial_policy(&connection, policy).map_err(to_napi)
    }

    #[napi]
    pub fn vpn_stats(&self) -> String {
        self.inner.vpn_stats().to_string()
    }
}
