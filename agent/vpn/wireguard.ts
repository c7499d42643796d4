/**
 * The WireGuard tunnel from a connection's owner to the target's gateway:
 * userspace `wireguard-go` (Debian) with its own TUN device, configured with
 * `wg` (docs/vpn.md "WireGuard to the target": the kernels we run on may
 * lack the module; where it exists the same `wg` configuration applies to a
 * kernel interface). Only the active owner brings one up, after its lease
 * renewal succeeded; a standby never does (§9.1). Keys reach `wg` on stdin
 * (`/dev/stdin`), never in argv, a file or a log line.
 */
import { existsSync } from "node:fs";
import type { ChildProcess } from "../../core/runtime/index.ts";
import { sleep } from "../../core/runtime/index.ts";
import type { VpnSecretAnswer, VpnTarget } from "../../core/contracts/vpn.ts";
import { attempt, run, shortTag, startHelper, stopHelper, VpnCommandError } from "./commands.ts";

export interface WireguardConfig {
  /** Interface name (≤ 15 bytes); wireguard-go's control socket is `/var/run/wireguard/<name>.sock`, one namespace for all. */
  name: string;
  secret: VpnSecretAnswer["wireguard"];
  target: VpnTarget;
  /** The ranges routed into the tunnel (the connection's allowed CIDRs). */
  routes: readonly string[];
}

/** wireguard-go's control sockets (not per network namespace: names must differ per node). */
const SOCKET_DIR = "/var/run/wireguard";
/** How long wireguard-go may take to open its control socket. */
const START_TIMEOUT_MS = 10_000;

/** The interface name for one connection on one node: unique across nodes sharing `/var/run/wireguard`. */
export function wireguardName(connectionId: string, nodeId: string): string {
  return `wg-${shortTag(connectionId, 6)}-${shortTag(nodeId, 5)}`;
}

/** `host:port` for `wg`: IPv6 in brackets. */
export function endpointOf(target: VpnTarget): string {
  return target.address.includes(":") ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
}

/**
 * The `wg set` argument lists: the private key (read from stdin), the gateway as the one peer with the routed ranges
 * (and the tunnel's own gateway address) as its allowed IPs; the preshared key, when there is one, in a second call
 * (stdin carries one key per call).
 */
export function wgSetArgs(cfg: WireguardConfig): { main: string[]; preshared: string[] | null } {
  const allowed = [...new Set(cfg.routes)].join(",");
  const main = ["wg", "set", cfg.name, "private-key", "/dev/stdin", "peer", cfg.secret.peer_public_key, "allowed-ips", allowed];
  // No persistent keepalive: a stopped or fenced former owner whose wireguard-go still runs must not send the gateway
  // anything that would move its endpoint back (WireGuard roams to the last authenticated sender).
  main.push("endpoint", endpointOf(cfg.target));
  const preshared = cfg.secret.preshared_key ? ["wg", "set", cfg.name, "peer", cfg.secret.peer_public_key, "preshared-key", "/dev/stdin"] : null;
  return { main, preshared };
}

export class WireguardTunnel {
  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {}

  /** Starts wireguard-go, configures it, addresses it and routes the allowed ranges into it; half-done work is undone on failure. */
  static async up(cfg: WireguardConfig): Promise<WireguardTunnel> {
    // An interface or socket left by a killed earlier run of this node would make wireguard-go refuse; nothing else uses this name.
    await attempt(["ip", "link", "del", cfg.name]);
    if (existsSync(`${SOCKET_DIR}/${cfg.name}.sock`)) await attempt(["rm", "-f", `${SOCKET_DIR}/${cfg.name}.sock`]);
    const proc = startHelper(["wireguard-go", "--foreground", cfg.name], { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" });
    const tunnel = new WireguardTunnel(cfg.name, proc);
    try {
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!existsSync(`${SOCKET_DIR}/${cfg.name}.sock`)) {
        if (proc.exitCode !== null) throw new VpnCommandError("wireguard-go", proc.exitCode, await new Response(proc.stderr).text());
        if (Date.now() > deadline) throw new VpnCommandError("wireguard-go", -1, `no control socket after ${START_TIMEOUT_MS} ms`);
        await sleep(20);
      }
      const args = wgSetArgs(cfg);
      await run(args.main, `${cfg.secret.private_key}\n`);
      if (args.preshared) await run(args.preshared, `${cfg.secret.preshared_key}\n`);
      for (const address of cfg.secret.tunnel_addresses) await run(["ip", "addr", "add", address, "dev", cfg.name]);
      await run(["ip", "link", "set", cfg.name, "up"]);
      for (const cidr of cfg.routes) await run(["ip", "route", "replace", cidr, "dev", cfg.name]);
      return tunnel;
    } catch (e) {
      await tunnel.down();
      throw e;
    }
  }

  /** Stops wireguard-go; its interface and routes go with it. */
  async down(): Promise<void> {
    await stopHelper(this.proc);
    await attempt(["ip", "link", "del", this.name]);
  }
}
