/**
 * CIDR ranges for VPN routing policy: parse (IPv4 and IPv6, canonical network
 * address required so "10.0.0.1/8" is refused rather than silently widened)
 * and overlap, which the control plane checks between one organization's
 * connections (two exits for one range would make routing ambiguous).
 */
export interface Cidr {
  family: 4 | 6;
  /** The network address as a bigint, host bits zero. */
  network: bigint;
  prefix: number;
}

function parseV4(s: string): bigint | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(p);
  }
  return n;
}

function parseV6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:]+$/.test(s) || s.split("::").length > 2) return null;
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(`0x${g}`);
  }
  return n;
}

/** The range, or null when it is not a canonical CIDR. */
export function parseCidr(text: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return null;
  const family = m[1]!.includes(":") ? 6 : 4;
  const bits = family === 4 ? 32 : 128;
  const prefix = Number(m[2]);
  if (prefix > bits) return null;
  const address = family === 4 ? parseV4(m[1]!) : parseV6(m[1]!);
  if (address === null) return null;
  const hostBits = BigInt(bits - prefix);
  if ((address & ((1n << hostBits) - 1n)) !== 0n) return null;
  return { family, network: address, prefix };
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = BigInt(a.family === 4 ? 32 : 128);
  const shorter = BigInt(Math.min(a.prefix, b.prefix));
  return a.network >> (bits - shorter) === b.network >> (bits - shorter);
}

/** An address literal (IPv4 or IPv6) as a one-address range; null when `text` is not one (a host name). */
export function parseAddress(text: string): Cidr | null {
  return parseCidr(`${text}/${text.includes(":") ? 128 : 32}`);
}

/** Whether `range` holds the whole of `inner` (an address is a one-address range). */
export function cidrContains(range: Cidr, inner: Cidr): boolean {
  return range.family === inner.family && range.prefix <= inner.prefix && cidrsOverlap(range, inner);
}
