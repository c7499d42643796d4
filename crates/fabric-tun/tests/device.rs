//! A real TUN device inside a network namespace this test makes and
//! removes (root and /dev/net/tun needed; skipped with a note otherwise):
//! a UDP datagram sent by the kernel towards the device's subnet comes out
//! of `Reader` as an IP packet, and a packet written with `Writer` reaches
//! a socket. Run with offloads and two queues, and plain.

use fabric_tun::packet::addresses;
use fabric_tun::{Tun, TunOptions};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;
use std::time::Duration;

struct Namespace(String);

impl Namespace {
    fn create(tag: &str) -> Option<Namespace> {
        if !std::path::Path::new("/dev/net/tun").exists() {
            eprintln!("skipped: no /dev/net/tun");
            return None;
        }
        let name = format!("ftun-{tag}-{}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            eprintln!("skipped: cannot create a network namespace (root and iproute2 needed)");
            return None;
        }
        Some(Namespace(name))
    }

    /// Moves the calling thread into the namespace.
    fn enter(&self) {
        let file = std::fs::File::open(format!("/var/run/netns/{}", self.0)).expect("namespace file");
        use std::os::fd::AsRawFd;
        // SAFETY: a valid namespace fd; setns affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns");
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet (UDP checksum 0: none, allowed for IPv4).
fn udp_packet(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src.0.octets());
    p.extend_from_slice(&dst.0.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&src.1.to_be_bytes());
    p.extend_from_slice(&dst.1.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn round_trip(tag: &str, offload: bool, queues: usize) {
    let Some(ns) = Namespace::create(tag) else { return };
    let name = ns.0.clone();
    let ns_ref = &ns;
    std::thread::scope(|s| {
        s.spawn(move || {
            ns_ref.enter();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let local = Ipv4Addr::new(10, 200, 0, 1);
                let opts = TunOptions { name: Some("ftun0".into()), mtu: 1400, ipv4: vec![(local, 24)], queues, offload };
                let tun = Tun::create(&opts).expect("create the device");
                assert_eq!(tun.name(), "ftun0", "{name}");
                assert!(tun.ifindex() > 0);
                let queue_list = tun.queues();
                assert_eq!(queue_list.len(), queues);
                let socket = UdpSocket::bind((local, 0)).unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let port = socket.local_addr().unwrap().port();
                let far = (Ipv4Addr::new(10, 200, 0, 2), 9999);
                socket.send_to(b"hello tun", far).unwrap();
                // The kernel picks a queue per flow: read all of them until the datagram shows up.
                let mut seen = None;
                let mut readers: Vec<_> = queue_list.iter().map(|q| q.reader()).collect();
                for _ in 0..50 {
                    for reader in readers.iter_mut() {
                        let mut packets = Vec::new();
                        let read = tokio::time::timeout(Duration::from_millis(100), reader.read_batch(|p| packets.push(p.to_vec()))).await;
                        if let Ok(Ok(_)) = read {
                            seen = packets.into_iter().find(|p| p.ends_with(b"hello tun")).or(seen);
                        }
                    }
                    if seen.is_some() {
                        break;
                    }
                }
                let packet = seen.expect("the datagram came out of the device");
                let a = addresses(&packet).unwrap();
                assert_eq!((a.source, a.destination), (local.into(), far.0.into()));
                let reply = udp_packet(far, (local, port), b"hello back");
                queue_list[0].writer().write_batch(&[reply]).await.expect("write");
                let mut buf = [0u8; 64];
                let (n, from) = socket.recv_from(&mut buf).expect("the written packet reached the socket");
                assert_eq!(&buf[..n], b"hello back");
                assert_eq!(from, std::net::SocketAddr::from(far));
            });
        });
    });
}

#[test]
fn a_device_with_offloads_and_two_queues_moves_packets_both_ways() {
    round_trip("mq", true, 2);
}

#[test]
fn a_plain_device_moves_packets_both_ways() {
    round_trip("plain", false, 1);
}
