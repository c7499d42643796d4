/**
 * The client's DNS stub over real UDP sockets on loopback: an "office" DNS
 * server answering names under its suffix, the host's "normal" resolver, and
 * the stub between them choosing by suffix, following route changes on the
 * same socket, falling over to a route's next server, and answering SERVFAIL
 * (never the wrong network's answer) when no server of the route answers;
 * the same over TCP (a resolver's retry after a truncated answer).
 */
import { createSocket, type Socket } from "node:dgram";
import { connect, createServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "../../fixtures/test.ts";
import { dnsAnswer, dnsQuery } from "../../fixtures/dns-server.ts";
import { parseDnsQuestion } from "../../core/vpn/dns.ts";
import { DnsStub, parseHostPort, resolvConfServers } from "./dns-stub.ts";

interface Server {
  socket: Socket;
  tcp: TcpServer;
  address: string;
  /** The names it was asked, with the transport: `name` (UDP) or `tcp:name`. */
  names: string[];
}

const frame = (m: Uint8Array) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

/** A DNS server on 127.0.0.1 (UDP and TCP, one port) that answers every A query with `answer` and remembers the names it was asked. */
function server(answer: string): Promise<Server> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const reply = (msg: Uint8Array, tag: string) => {
      const q = parseDnsQuestion(msg)!;
      s.names.push(`${tag}${q.name}`);
      return dnsAnswer(msg, q.end, answer);
    };
    const tcp = createServer((c) => c.on("data", (chunk: Buffer) => c.write(frame(reply(new Uint8Array(chunk.subarray(2)), "tcp:")))));
    const s: Server = { socket, tcp, address: "", names: [] };
    socket.on("message", (msg, from) => socket.send(reply(new Uint8Array(msg), ""), from.port, from.address));
    socket.bind(0, "127.0.0.1", () => {
      const port = socket.address().port;
      s.address = `127.0.0.1:${port}`;
      tcp.listen(port, "127.0.0.1", () => resolve(s));
    });
  });
}

/** One A query over TCP: the rcode and the answer's address, or null when the connection fails or stays silent 5 s. */
function askTcp(to: string, name: string): Promise<{ rcode: number; address: string | null } | null> {
  const { host, port } = parseHostPort(to)!;
  return new Promise((resolve) => {
    const c = connect(port, host, () => c.write(frame(dnsQuery(name, 9))));
    const timer = setTimeout(() => c.destroy(), 5000);
    let buffered = Buffer.alloc(0);
    c.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const msg = buffered.subarray(2);
      clearTimeout(timer);
      c.destroy();
      const answers = (msg[6]! << 8) | msg[7]!;
      resolve({ rcode: msg[3]! & 0x0f, address: answers ? [...msg.subarray(msg.length - 4)].join(".") : null });
    });
    c.on("close", () => resolve(null));
    c.on("error", () => resolve(null));
  });
}

/** A free UDP port on 127.0.0.1 (bound, read, closed). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.bind(0, "127.0.0.1", () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** One A query to `to`; the rcode and the answer's address (the last 4 bytes), or null on a 5 s silence. */
function ask(to: string, name: string): Promise<{ rcode: number; address: string | null } | null> {
  const { host, port } = parseHostPort(to)!;
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, 5000);
    s.on("message", (msg) => {
      clearTimeout(timer);
      s.close();
      const answers = (msg[6]! << 8) | msg[7]!;
      resolve({ rcode: msg[3]! & 0x0f, address: answers ? [...msg.subarray(msg.length - 4)].join(".") : null });
    });
    s.send(dnsQuery(name, 7), port, host);
  });
}

let office: Server;
let office2: Server;
let host: Server;
let stub: DnsStub;
let listen = "";
const logs: { line: string; fields?: Record<string, unknown> }[] = [];

beforeAll(async () => {
  [office, office2, host] = await Promise.all([server("10.77.0.1"), server("10.78.0.1"), server("192.0.2.1")]);
  listen = `127.0.0.1:${await freePort()}`;
  stub = new DnsStub({ listen, upstreams: [host.address], log: (line, fields) => logs.push({ line, fields }) });
});

afterAll(() => {
  stub.close();
  for (const s of [office, office2, host]) {
    s.socket.close();
    s.tcp.close();
  }
});

describe("the VPN client's DNS stub", () => {
  test("names under a route's suffix go to its servers, every other name to the host's resolver", async () => {
    await stub.setRoutes("m1", [{ suffix: "corp.example", servers: [office.address], connection_id: "c1" }]);
    expect(stub.listening()).toBe(true);
    expect(await ask(listen, "intranet.corp.example")).toEqual({ rcode: 0, address: "10.77.0.1" });
    expect(await ask(listen, "www.example.org")).toEqual({ rcode: 0, address: "192.0.2.1" });
    expect(office.names).toEqual(["intranet.corp.example"]);
    expect(host.names).toEqual(["www.example.org"]);
    const status = stub.status();
    expect(status.routes).toEqual([{ suffix: "corp.example", servers: [office.address], connection_id: "c1", queries: 1, failures: 0 }]);
    expect(status.other_queries).toBe(1);
    expect(logs.find((l) => l.line === "vpn dns routes in force")?.fields?.routes).toEqual([
      { suffix: "corp.example", servers: [office.address], connection: "c1" },
    ]);
  });

  test("a new route set applies on the same socket; the longest suffix wins; a dead server is skipped for the next", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await stub.setRoutes("m1", [
      { suffix: "corp.example", servers: [office.address], connection_id: "c1" },
      { suffix: "lab.corp.example", servers: [dead, office2.address], connection_id: "c2" },
    ]);
    expect(await ask(listen, "db.lab.corp.example")).toEqual({ rcode: 0, address: "10.78.0.1" });
    expect(await ask(listen, "db.corp.example")).toEqual({ rcode: 0, address: "10.77.0.1" });
    expect(office2.names).toEqual(["db.lab.corp.example"]);
  });

  test("no server of the route answers: SERVFAIL, counted; the host's resolver is never asked a routed name", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    await stub.setRoutes("m1", [{ suffix: "corp.example", servers: [dead], connection_id: "c1" }]);
    const before = host.names.length;
    expect(await ask(listen, "gone.corp.example")).toEqual({ rcode: 2, address: null });
    expect(host.names.length).toBe(before);
    expect(stub.status().routes[0]!.failures).toBe(1);
  });

  test("over TCP (a resolver's retry after a truncated answer) the same choice, sent on over TCP", async () => {
    await stub.setRoutes("m1", [{ suffix: "corp.example", servers: [office.address], connection_id: "c1" }]);
    expect(await askTcp(listen, "wiki.corp.example")).toEqual({ rcode: 0, address: "10.77.0.1" });
    expect(await askTcp(listen, "news.example.net")).toEqual({ rcode: 0, address: "192.0.2.1" });
    expect(office.names).toContain("tcp:wiki.corp.example");
    expect(host.names).toContain("tcp:news.example.net");
    expect(office.names).not.toContain("tcp:news.example.net");
  });

  test("routes of several memberships add up; the stub stops when none has a client connection", async () => {
    await stub.setRoutes("m2", [{ suffix: "other.example", servers: [office2.address], connection_id: "c3" }]);
    expect(stub.status().routes.map((r) => r.suffix)).toEqual(["corp.example", "other.example"]);
    await stub.setRoutes("m1", null);
    expect(stub.listening()).toBe(true);
    await stub.setRoutes("m2", null);
    expect(stub.listening()).toBe(false);
    expect(logs.at(-1)?.line).toBe("vpn dns stub stopped");
  });

  test("an address already taken: the start fails with the reason, and neither transport stays bound", async () => {
    const port = await freePort();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(port, "127.0.0.1", r));
    const logs2: string[] = [];
    const other = new DnsStub({ listen: `127.0.0.1:${port}`, upstreams: [], log: (l) => logs2.push(l) });
    await expect(other.setRoutes("m", [])).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(other.listening()).toBe(false);
    // The UDP half that did bind was closed again: the port is free for UDP.
    const probe = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.bind(port, "127.0.0.1", resolve);
    });
    probe.close();
    taken.close();
    expect(logs2).not.toContain("vpn dns stub listening");
  });

  test("resolv.conf nameservers; IP, IP:port and [v6]:port parse, anything else is refused", () => {
    expect(resolvConfServers("# c\nnameserver 10.0.0.2\nsearch x\n nameserver fd00::1\noptions edns0\n")).toEqual(["10.0.0.2", "fd00::1"]);
    expect(parseHostPort("10.0.0.2")).toEqual({ host: "10.0.0.2", port: 53 });
    expect(parseHostPort("127.0.88.53:5353")).toEqual({ host: "127.0.88.53", port: 5353 });
    expect(parseHostPort("[fd00::1]:53")).toEqual({ host: "fd00::1", port: 53 });
    expect(parseHostPort("fd00::1")).toEqual({ host: "fd00::1", port: 53 });
    for (const bad of ["dns.example", "10.0.0.300", "10.0.0.2:0", "10.0.0.2:70000", "", "[x]:53"]) expect(parseHostPort(bad)).toBeNull();
  });
});
