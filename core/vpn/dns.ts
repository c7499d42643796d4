/**
 * DNS routes of a VPN connection's routing policy (`dns_routes: [{suffix,
 * servers}]`), shared by the control plane (which refuses a bad suffix or
 * server at create/update) and the client's DNS stub (agent/vpn/dns-stub.ts,
 * which sends a query to the servers of the longest suffix its name ends
 * in). Also the little of the DNS wire format the stub needs: the question
 * of a query, and a SERVFAIL answer. Pure: no sockets here.
 */
import { parseCidr } from "./cidr.ts";

export interface DnsRoute {
  suffix: string;
  servers: readonly string[];
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A suffix as the policy must spell it: a DNS name in lower case without the trailing dot (`corp.example`,
 * `internal`), labels of 1–63 letters, digits and inner hyphens, 253 characters at most. Not the root: a route
 * for every name is internet egress's business, not DNS routing's.
 */
export function isDnsSuffix(text: string): boolean {
  return text.length >= 1 && text.length <= 253 && text.split(".").every((l) => LABEL.test(l));
}

/** A DNS server as the policy must spell it: an IPv4 or IPv6 address (port 53), canonical. */
export function isDnsServer(text: string): boolean {
  return parseCidr(`${text}/${text.includes(":") ? 128 : 32}`) !== null;
}

/** A query name, lower case, without the trailing dot. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** The route whose suffix is the longest one `name` is (or ends in as whole labels), or null: the host's resolver. */
export function dnsRouteFor<R extends DnsRoute>(name: string, routes: readonly R[]): R | null {
  const n = normalizeName(name);
  let best: R | null = null;
  for (const r of routes) {
    if ((n === r.suffix || n.endsWith(`.${r.suffix}`)) && (!best || r.suffix.length > best.suffix.length)) best = r;
  }
  return best;
}

export interface DnsQuestion {
  id: number;
  name: string;
  qtype: number;
  /** Where the question ends in the message. */
  end: number;
}

/** The first question of a DNS query (RFC 1035 §4.1), or null when it is not one (an answer, truncated, compressed). */
export function parseDnsQuestion(msg: Uint8Array): DnsQuestion | null {
  if (msg.length < 12) return null;
  const isQuery = (msg[2]! & 0x80) === 0;
  const questions = (msg[4]! << 8) | msg[5]!;
  if (!isQuery || questions < 1) return null;
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    if (i >= msg.length) return null;
    const len = msg[i]!;
    if (len === 0) break;
    // A query's name is never compressed; a pointer or a label past the end is not a question we can route.
    if (len > 63 || i + 1 + len > msg.length) return null;
    labels.push(String.fromCharCode(...msg.subarray(i + 1, i + 1 + len)));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  const name = labels.join(".");
  if (name.length > 253) return null;
  return { id: (msg[0]! << 8) | msg[1]!, name: normalizeName(name), qtype: (msg[i + 1]! << 8) | msg[i + 2]!, end: i + 5 };
}

/** A SERVFAIL answer to `query` (its id and question, no records): what the stub says when no server answered. */
export function dnsServfail(query: Uint8Array, q: DnsQuestion): Uint8Array {
  const out = new Uint8Array(q.end);
  out.set(query.subarray(0, q.end));
  out[2] = 0x80 | (query[2]! & 0x01); // QR, keep RD
  out[3] = 0x80 | 2; // RA, RCODE 2 (server failure)
  out[4] = 0;
  out[5] = 1;
  out.fill(0, 6, 12);
  return out;
}
