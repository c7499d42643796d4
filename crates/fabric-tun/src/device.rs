//! A TUN device and its queues. Created in the network namespace of the
//! calling thread (the agent runs inside the namespace it serves; the
//! agent sets routes with `ip`, this crate does not).
//!
//! With `offload`, the device is opened with `IFF_VNET_HDR` and TSO/USO:
//! the kernel hands over TCP/UDP super-packets of up to 64 KiB in one read,
//! which `Reader` splits into MTU-sized IP packets (checksums filled in),
//! and `Writer` merges consecutive segments of a flow back (GRO) before
//! writing, so one syscall moves many packets either way. With `queues > 1`
//! the device is multi-queue (`IFF_MULTI_QUEUE`) and the kernel spreads
//! flows over the queues, one reader per queue.
//!
//! A read fails with EIO while the interface is down (for example while
//! it moves between namespaces); the caller decides whether to wait.

use crate::error::TunError;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Arc;
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

pub const MIN_MTU: u16 = 576;
pub const MAX_QUEUES: usize = 16;

#[derive(Debug, Clone)]
pub struct TunOptions {
    /// Interface name (1–15 bytes, no `/` or whitespace); `None`: the kernel picks `tunN`.
    pub name: Option<String>,
    pub mtu: u16,
    /// IPv4 addresses with their prefix lengths; the first is the primary.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// Kernel queues (1 = single queue).
    pub queues: usize,
    /// Ask for virtio offloads (TSO/USO, GSO reads, GRO writes); kept off when the kernel refuses them.
    pub offload: bool,
}

impl TunOptions {
    fn check(&self) -> Result<(), TunError> {
        let invalid = |m: String| Err(TunError::ConfigInvalid(m));
        if let Some(name) = &self.name {
            if name.is_empty() || name.len() > 15 || name.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control()) {
                return invalid(format!("interface name {name:?}: 1-15 bytes without '/' or spaces"));
            }
        }
        if self.mtu < MIN_MTU {
            return invalid(format!("mtu {}: at least {MIN_MTU}", self.mtu));
        }
        if self.queues == 0 || self.queues > MAX_QUEUES {
            return invalid(format!("queues {}: 1-{MAX_QUEUES}", self.queues));
        }
        if let Some((addr, prefix)) = self.ipv4.iter().find(|(_, p)| *p > 32) {
            return invalid(format!("address {addr}/{prefix}: prefix above 32"));
        }
        Ok(())
    }
}

pub struct Tun {
    name: String,
    ifindex: u32,
    mtu: u16,
    queues: Vec<Arc<AsyncDevice>>,
    offload: bool,
    tcp_gso: bool,
    udp_gso: bool,
}

fn unavailable(e: io::Error) -> TunError {
    TunError::Unavailable(e.to_string())
}

fn build(opts: &TunOptions, offload: bool) -> io::Result<AsyncDevice> {
    let mut builder = DeviceBuilder::new().mtu(opts.mtu).offload(offload).multi_queue(opts.queues > 1);
    if let Some(name) = &opts.name {
        builder = builder.name(name.clone());
    }
    if let Some((addr, prefix)) = opts.ipv4.first() {
        builder = builder.ipv4(*addr, *prefix, None);
    }
    builder.build_async()
}

impl Tun {
    /// Creates the device, brings it up and opens its queues. Must run
    /// inside a tokio runtime (the queues register with its reactor).
    pub fn create(opts: &TunOptions) -> Result<Tun, TunError> {
        opts.check()?;
        let (first, offload) = match build(opts, opts.offload) {
            Ok(dev) => (dev, opts.offload),
            Err(_) if opts.offload => (build(opts, false).map_err(unavailable)?, false),
            Err(e) => return Err(unavailable(e)),
        };
        for (addr, prefix) in opts.ipv4.iter().skip(1) {
            first.add_address_v4(*addr, *prefix).map_err(unavailable)?;
        }
        let mut queues = vec![Arc::new(first)];
        for _ in 1..opts.queues {
            let extra = queues[0].try_clone().map_err(unavailable)?;
            queues.push(Arc::new(extra));
        }
        let dev = &queues[0];
        Ok(Tun {
            name: dev.name().map_err(unavailable)?,
            ifindex: dev.if_index().map_err(unavailable)?,
            mtu: opts.mtu,
            offload,
            tcp_gso: offload && dev.tcp_gso(),
            udp_gso: offload && dev.udp_gso(),
            queues,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Whether virtio offloads are on, and with TCP / UDP segmentation.
    pub fn offload(&self) -> (bool, bool, bool) {
        (self.offload, self.tcp_gso, self.udp_gso)
    }

    pub fn queues(&self) -> Vec<TunQueue> {
        self.queues.iter().map(|dev| TunQueue { dev: dev.clone(), offload: self.offload }).collect()
    }
}

/// One kernel queue of the device; readers and writers are made from it.
#[derive(Clone)]
pub struct TunQueue {
    dev: Arc<AsyncDevice>,
    offload: bool,
}

impl TunQueue {
    pub fn reader(&self) -> Reader {
        Reader {
            queue: self.clone(),
            original: vec![0; VIRTIO_NET_HDR_LEN + 65535],
            bufs: vec![vec![0; 65535]; if self.offload { IDEAL_BATCH_SIZE } else { 1 }],
            sizes: vec![0; if self.offload { IDEAL_BATCH_SIZE } else { 1 }],
        }
    }

    pub fn writer(&self) -> Writer {
        Writer { queue: self.clone(), gro: GROTable::default(), bufs: Vec::new() }
    }
}

/// Reads packets in batches: one read, split into IP packets when the
/// kernel handed over a super-packet.
pub struct Reader {
    queue: TunQueue,
    original: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
}

impl Reader {
    /// Waits for the next read and calls `each` with every IP packet of it; returns how many.
    pub async fn read_batch(&mut self, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        let n = self.queue.dev.recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0).await?;
        for (buf, size) in self.bufs.iter().zip(&self.sizes).take(n) {
            if let Some(packet) = buf.get(..*size) {
                each(packet);
            }
        }
        Ok(n)
    }
}

/// Writes packets in batches: consecutive segments of one flow are merged
/// (GRO) when offloads are on, so the kernel sees fewer, larger writes.
pub struct Writer {
    queue: TunQueue,
    gro: GROTable,
    bufs: Vec<Vec<u8>>,
}

impl Writer {
    /// Writes every packet of `packets`; a packet the kernel refuses is
    /// skipped (counted by the caller from the returned error), the rest go on.
    pub async fn write_batch<P: AsRef<[u8]>>(&mut self, packets: &[P]) -> io::Result<()> {
        if !self.queue.offload {
            let mut result = Ok(());
            for p in packets {
                if let Err(e) = self.queue.dev.send(p.as_ref()).await {
                    result = Err(e);
                }
            }
            return result;
        }
        self.bufs.resize_with(packets.len().max(self.bufs.len()), Vec::new);
        for (buf, p) in self.bufs.iter_mut().zip(packets) {
            buf.clear();
            buf.resize(VIRTIO_NET_HDR_LEN, 0);
            buf.extend_from_slice(p.as_ref());
        }
        let bufs = &mut self.bufs[..packets.len()];
        self.queue.dev.send_multiple(&mut self.gro, bufs, VIRTIO_NET_HDR_LEN).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TunOptions {
        TunOptions { name: Some("vpn0".into()), mtu: 1400, ipv4: vec![], queues: 1, offload: true }
    }

    #[test]
    fn bad_options_are_refused_before_the_kernel_is_asked() {
        let cases: Vec<(&str, TunOptions)> = vec![
            ("long name", TunOptions { name: Some("x".repeat(16)), ..options() }),
            ("slash", TunOptions { name: Some("a/b".into()), ..options() }),
            ("empty name", TunOptions { name: Some(String::new()), ..options() }),
            ("small mtu", TunOptions { mtu: 100, ..options() }),
            ("no queue", TunOptions { queues: 0, ..options() }),
            ("many queues", TunOptions { queues: 17, ..options() }),
            ("prefix", TunOptions { ipv4: vec![(Ipv4Addr::new(10, 0, 0, 1), 33)], ..options() }),
        ];
        for (what, opts) in cases {
            let e = opts.check().unwrap_err();
            assert!(e.to_string().starts_with("config_invalid: "), "{what}: {e}");
        }
        assert!(options().check().is_ok());
    }
}
