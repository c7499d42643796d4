/**
 * The `vpn-client`'s DNS policy: a small DNS stub on a loopback address of
 * the client's host (default 127.0.88.53:53, `--vpn-dns-listen`) that the
 * operator points the host's resolver at (docs/vpn.md "DNS routes"). A query
 * for a name under a connection's DNS route suffix goes to that route's
 * servers, which lie in the connection's allowed ranges and so are reached
 * through its adapter; every other query goes to the host's normal resolver
 * (`--vpn-dns-upstream`, else the `nameserver` lines of /etc/resolv.conf
 * other than the stub itself). The longest matching suffix wins; a route's
 * servers are tried in order, 2 s each; when none answers the client gets
 * SERVFAIL, never an answer from the wrong network.
 *
 * The routes follow each snapshot (`setRoutes`), without restarting
 * anything; the stub listens while the node has any VPN client connection.
 * What is in force and how many queries each route took is in
 * `rap-node-agent status` and logged on every change. UDP only: a client
 * that retries over TCP after a truncated answer is not served (stated in
 * the docs).
 */
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { dnsRouteFor, dnsServfail, isDnsServer, parseDnsQuestion } from "../../core/vpn/dns.ts";

export const DEFAULT_DNS_LISTEN = "127.0.88.53:53";
/** How long one server has to answer before the next is tried. */
const SERVER_TIMEOUT_MS = 2000;

export interface DnsRouteInForce {
  suffix: string;
  servers: string[];
  connection_id: string;
}

export interface DnsStubOptions {
  /** IP:port to listen on (UDP). */
  listen: string;
  /** The host's resolvers for names outside every route (IP or IP:port); empty: /etc/resolv.conf. */
  upstreams: readonly string[];
  log(line: string, fields?: Record<string, unknown>): void;
  /** Where the host's resolvers are read from when `upstreams` is empty. */
  resolvConf?: string;
}

interface RouteCounters {
  queries: number;
  failures: number;
}

export interface DnsStubStatus {
  listen: string;
  upstreams: string[];
  routes: (DnsRouteInForce & RouteCounters)[];
  other_queries: number;
}

/** `IP:port`, `[v6]:port` or a bare address (port 53) → host and port; null when it is not one. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m =
    /^\[([0-9a-fA-F:]+)\](?::(\d{1,5}))?$/.exec(text) ??
    /^([0-9a-fA-F]*:[0-9a-fA-F:]+)()$/.exec(text) ??
    /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  if (!m || !isDnsServer(m[1]!)) return null;
  const port = m[2] ? Number(m[2]) : 53;
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : null;
}

/** The `nameserver` addresses of a resolv.conf text. */
export function resolvConfServers(text: string): string[] {
  return text
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => !!s);
}

export class DnsStub {
  private socket: Socket | null = null;
  private starting: Promise<void> | null = null;
  private routes: DnsRouteInForce[] = [];
  private readonly bySource = new Map<string, DnsRouteInForce[]>();
  private readonly counters = new Map<string, RouteCounters>();
  private otherQueries = 0;
  private readonly bind: { host: string; port: number };

  constructor(private readonly o: DnsStubOptions) {
    const bind = parseHostPort(o.listen);
    if (!bind) throw new Error(`not IP:port: ${o.listen}`);
    this.bind = bind;
  }

  /**
   * The routes one source (a cluster membership's client) has in force, and whether it has any connection at all:
   * the stub listens while any source has one. Logged when what is in force changes.
   */
  async setRoutes(source: string, routes: DnsRouteInForce[] | null): Promise<void> {
    if (routes === null) this.bySource.delete(source);
    else this.bySource.set(source, routes);
    const next = [...this.bySource.values()].flat();
    if (JSON.stringify(next) !== JSON.stringify(this.routes)) {
      this.routes = next;
      this.o.log("vpn dns routes in force", {
        listen: this.o.listen,
        routes: next.map((r) => ({ suffix: r.suffix, servers: r.servers, connection: r.connection_id })),
      });
    }
    if (this.bySource.size > 0) await this.open();
    else this.close();
  }

  status(): DnsStubStatus {
    return {
      listen: this.o.listen,
      upstreams: this.upstreams(),
      routes: this.routes.map((r) => ({ ...r, ...(this.counters.get(key(r)) ?? { queries: 0, failures: 0 }) })),
      other_queries: this.otherQueries,
    };
  }

  /** Whether the stub is listening now. */
  listening(): boolean {
    return this.socket !== null;
  }

  close(): void {
    const s = this.socket;
    this.socket = null;
    this.starting = null;
    if (s) {
      s.close();
      this.o.log("vpn dns stub stopped", { listen: this.o.listen });
    }
  }

  private open(): Promise<void> {
    if (this.socket) return Promise.resolve();
    this.starting ??= new Promise<void>((resolve, reject) => {
      const s = createSocket(this.bind.host.includes(":") ? "udp6" : "udp4");
      s.once("error", reject);
      s.bind(this.bind.port, this.bind.host, () => {
        s.off("error", reject);
        s.on("error", (e) => this.o.log("vpn dns stub socket error", { error: e.message }));
        s.on("message", (msg, from) => void this.answer(s, new Uint8Array(msg), from.address, from.port));
        this.socket = s;
        this.o.log("vpn dns stub listening", { listen: this.o.listen });
        resolve();
      });
    }).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private upstreams(): string[] {
    if (this.o.upstreams.length) return [...this.o.upstreams];
    let text = "";
    try {
      text = readFileSync(this.o.resolvConf ?? "/etc/resolv.conf", "utf8");
    } catch {
      return [];
    }
    // Never forward to ourselves (the operator pointed resolv.conf at the stub).
    return resolvConfServers(text).filter((s) => s !== this.bind.host || this.bind.port !== 53);
  }

  private async answer(s: Socket, query: Uint8Array, address: string, port: number): Promise<void> {
    const q = parseDnsQuestion(query);
    if (!q) return;
    const route = dnsRouteFor(q.name, this.routes);
    const servers = route ? route.servers : this.upstreams();
    let counters: RouteCounters | undefined;
    if (route) {
      counters = this.counters.get(key(route)) ?? { queries: 0, failures: 0 };
      this.counters.set(key(route), counters);
      counters.queries++;
    } else this.otherQueries++;
    let reply: Uint8Array | null = null;
    for (const server of servers) {
      const to = parseHostPort(server);
      if (!to) continue;
      reply = await exchange(query, q.id, to).catch(() => null);
      if (reply) break;
    }
    if (!reply) {
      if (counters) counters.failures++;
      reply = dnsServfail(query, q);
    }
    if (this.socket === s) s.send(reply, port, address);
  }
}

function key(r: DnsRouteInForce): string {
  return `${r.connection_id} ${r.suffix}`;
}

/** One query to one server from a socket of its own, the answer with the query's id, or null after the timeout. */
function exchange(query: Uint8Array, id: number, to: { host: string; port: number }): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const s = createSocket(to.host.includes(":") ? "udp6" : "udp4");
    const done = (answer: Uint8Array | null) => {
      clearTimeout(timer);
      s.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(null), SERVER_TIMEOUT_MS);
    s.on("error", () => done(null));
    s.on("message", (msg, from) => {
      if (from.address !== to.host || from.port !== to.port || msg.length < 2 || ((msg[0]! << 8) | msg[1]!) !== id) return;
      done(new Uint8Array(msg));
    });
    s.send(query, to.port, to.host);
  });
}
