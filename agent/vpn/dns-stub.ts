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
 * `rap-node-agent status` and logged on every change. UDP and TCP (a
 * resolver retries over TCP after a truncated answer): each query is sent
 * on to its server over the transport it came in on.
 */
import { createSocket, type Socket } from "node:dgram";
import { connect, createServer, type Server, type Socket as TcpSocket } from "node:net";
import { readFileSync } from "node:fs";
import { type DnsQuestion, dnsRouteFor, dnsServfail, isDnsServer, parseDnsQuestion } from "../../core/vpn/dns.ts";

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
  private udp: Socket | null = null;
  private tcp: Server | null = null;
  private readonly conns = new Set<TcpSocket>();
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
    return this.udp !== null;
  }

  close(): void {
    const [udp, tcp] = [this.udp, this.tcp];
    this.udp = null;
    this.tcp = null;
    this.starting = null;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    tcp?.close();
    if (udp) {
      udp.close();
      this.o.log("vpn dns stub stopped", { listen: this.o.listen });
    }
  }

  /** UDP and TCP on the same address; if either cannot bind, neither stays open. */
  private open(): Promise<void> {
    if (this.udp) return Promise.resolve();
    this.starting ??= Promise.allSettled([this.openUdp(), this.openTcp()])
      .then(([udp, tcp]) => {
        if (udp.status === "fulfilled" && tcp.status === "fulfilled") {
          this.udp = udp.value;
          this.tcp = tcp.value;
          this.o.log("vpn dns stub listening", { listen: this.o.listen, transports: ["udp", "tcp"] });
          return;
        }
        // The one that did bind is closed again.
        if (udp.status === "fulfilled") udp.value.close();
        if (tcp.status === "fulfilled") tcp.value.close();
        throw udp.status === "rejected" ? udp.reason : (tcp as PromiseRejectedResult).reason;
      })
      .finally(() => {
        this.starting = null;
      });
    return this.starting;
  }

  private openUdp(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const s = createSocket(this.bind.host.includes(":") ? "udp6" : "udp4");
      s.once("error", reject);
      s.bind(this.bind.port, this.bind.host, () => {
        s.off("error", reject);
        s.on("error", (e) => this.o.log("vpn dns stub socket error", { error: e.message }));
        s.on("message", (msg, from) => void this.answerUdp(s, new Uint8Array(msg), from.address, from.port));
        resolve(s);
      });
    });
  }

  private openTcp(): Promise<Server> {
    return new Promise<Server>((resolve, reject) => {
      const server = createServer((c) => this.serveTcp(c));
      server.once("error", reject);
      server.listen(this.bind.port, this.bind.host, () => {
        server.off("error", reject);
        server.on("error", (e) => this.o.log("vpn dns stub socket error", { error: e.message }));
        resolve(server);
      });
    });
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

  private async answerUdp(s: Socket, query: Uint8Array, address: string, port: number): Promise<void> {
    const q = parseDnsQuestion(query);
    if (!q) return;
    const reply = await this.resolve(query, q, exchangeUdp);
    if (this.udp === s) s.send(reply, port, address);
  }

  /** DNS over TCP (RFC 7766): two-byte length, message; several queries may follow on one connection. */
  private serveTcp(c: TcpSocket): void {
    this.conns.add(c);
    c.setTimeout(10_000, () => c.destroy());
    c.on("close", () => this.conns.delete(c));
    c.on("error", () => c.destroy());
    let buffered: Uint8Array = new Uint8Array(0);
    c.on("data", (chunk: Uint8Array) => {
      buffered = concat(buffered, chunk);
      while (buffered.length >= 2) {
        const len = (buffered[0]! << 8) | buffered[1]!;
        if (buffered.length < 2 + len) break;
        const query = buffered.slice(2, 2 + len);
        buffered = buffered.slice(2 + len);
        const q = parseDnsQuestion(query);
        if (!q) {
          c.destroy();
          return;
        }
        void this.resolve(query, q, exchangeTcp).then((reply) => {
          if (!c.destroyed) c.write(framed(reply));
        });
      }
    });
  }

  /** The answer to one query: from the servers of the longest matching route, else the host's resolvers; SERVFAIL when none answers. */
  private async resolve(query: Uint8Array, q: DnsQuestion, exchange: Exchange): Promise<Uint8Array> {
    const route = dnsRouteFor(q.name, this.routes);
    const servers = route ? route.servers : this.upstreams();
    let counters: RouteCounters | undefined;
    if (route) {
      counters = this.counters.get(key(route)) ?? { queries: 0, failures: 0 };
      this.counters.set(key(route), counters);
      counters.queries++;
    } else this.otherQueries++;
    for (const server of servers) {
      const to = parseHostPort(server);
      if (!to) continue;
      const reply = await exchange(query, q.id, to).catch(() => null);
      if (reply) return reply;
    }
    if (counters) counters.failures++;
    return dnsServfail(query, q);
  }
}

type Exchange = (query: Uint8Array, id: number, to: { host: string; port: number }) => Promise<Uint8Array | null>;

function key(r: DnsRouteInForce): string {
  return `${r.connection_id} ${r.suffix}`;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function framed(msg: Uint8Array): Uint8Array {
  return concat(new Uint8Array([msg.length >> 8, msg.length & 0xff]), msg);
}

function idOf(msg: Uint8Array): number {
  return msg.length < 2 ? -1 : (msg[0]! << 8) | msg[1]!;
}

/** One query to one server over UDP from a socket of its own: the answer with the query's id, or null after the timeout. */
const exchangeUdp: Exchange = (query, id, to) =>
  new Promise((resolve) => {
    const s = createSocket(to.host.includes(":") ? "udp6" : "udp4");
    const done = (answer: Uint8Array | null) => {
      clearTimeout(timer);
      s.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(null), SERVER_TIMEOUT_MS);
    s.on("error", () => done(null));
    s.on("message", (msg, from) => {
      if (from.address !== to.host || from.port !== to.port || idOf(msg) !== id) return;
      done(new Uint8Array(msg));
    });
    s.send(query, to.port, to.host);
  });

/** The same over TCP: one connection per query, the first framed answer with the query's id. */
const exchangeTcp: Exchange = (query, id, to) =>
  new Promise((resolve) => {
    const c = connect(to.port, to.host);
    let buffered: Uint8Array = new Uint8Array(0);
    const done = (answer: Uint8Array | null) => {
      clearTimeout(timer);
      c.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(null), SERVER_TIMEOUT_MS);
    c.on("error", () => done(null));
    c.on("connect", () => c.write(framed(query)));
    c.on("data", (chunk: Uint8Array) => {
      buffered = concat(buffered, chunk);
      if (buffered.length < 2) return;
      const len = (buffered[0]! << 8) | buffered[1]!;
      if (buffered.length < 2 + len) return;
      const answer = buffered.slice(2, 2 + len);
      done(idOf(answer) === id ? answer : null);
    });
  });
