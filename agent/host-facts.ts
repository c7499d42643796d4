/**
 * Facts and capabilities read from this host. Capabilities are what the host
 * can technically do; the control plane still grants roles explicitly.
 */
import { arch, cpus, hostname, networkInterfaces, platform, release, totalmem, freemem, loadavg, uptime } from "node:os";
import { existsSync } from "node:fs";
import type { Capability } from "../core/fabric.ts";

export function hostFacts(): Record<string, unknown> {
  const interfaces = Object.entries(networkInterfaces()).flatMap(([name, addrs]) =>
    (addrs ?? []).filter((a) => !a.internal).map((a) => ({ name, family: a.family, address: a.address })),
  );
  return {
    hostname: hostname(),
    os: platform(),
    kernel: release(),
    arch: arch(),
    cpus: cpus().length,
    memory_bytes: totalmem(),
    tun_device: tunDevice(),
    interfaces,
  };
}

/**
 * Whether the TUN device exists. Deno lets only `--allow-all` look at
 * /dev, /proc or /sys, so under the agent's own permission set
 * (core/runtime/deno-permissions.ts) the answer is "no": the VPN roles are
 * then not offered, which is the safe side of not knowing.
 */
function tunDevice(): boolean {
  try {
    return existsSync("/dev/net/tun");
  } catch (err) {
    if ((err as Error).name === "NotCapable") return false;
    throw err;
  }
}

export function detectCapabilities(facts = hostFacts()): Partial<Record<Capability, boolean>> {
  const linux = facts.os === "linux";
  const tun = facts.tun_device === true;
  return {
    can_route_mesh: true,
    can_accept_node_ingress: true,
    can_accept_client_ingress: true,
    can_egress_private_network: true,
    can_egress_internet: true,
    can_run_vnc_worker: false,
    // The SSH and RDP adapters are Rust inside the mesh addon (crates/fabric-ssh, crates/fabric-rdp on IronRDP): nothing to install.
    can_run_rdp_worker: true,
    can_run_ssh_worker: true,
    can_run_vpn_exit: linux && tun,
    can_run_vpn_connector: linux && tun,
    can_run_vpn_client: linux && tun,
    can_run_file_cache: true,
    can_run_update_cache: true,
    can_run_video_relay: true,
  };
}

/** What goes in each heartbeat: load and memory now, not a static description. */
export function telemetry(): Record<string, unknown> {
  const [l1, l5, l15] = loadavg();
  return { load: [l1, l5, l15], memory_free_bytes: freemem(), memory_total_bytes: totalmem(), uptime_seconds: Math.round(uptime()) };
}
