/**
 * One conversation with an LDAP directory (ldapts): connect over LDAPS or
 * StartTLS (plain LDAP only outside production), bind as the source's
 * service account, then either check one person's password (search, then
 * bind as them) or list everyone with their groups for a sync. Values that
 * reach a filter are escaped (RFC 4515). The bind password never leaves this
 * module; errors carry the LDAP result name, never a credential.
 */
import { Client, type Entry } from "ldapts";
import type { LdapConfig } from "../../core/contracts/identity-sources.ts";
import { DomainError } from "../../core/errors.ts";
import type { ExternalPerson } from "./admit.ts";

const TIMEOUT_MS = 10_000;
const MAX_ENTRIES = 10_000;

/** RFC 4515: the characters that end or change a filter value. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export interface Directory {
  /** The person whose login name and password these are, or null (unknown, ambiguous or wrong password). */
  authenticate(login: string, password: string): Promise<ExternalPerson | null>;
  /** Everyone the user filter finds, with their groups (group DNs). */
  people(): Promise<ExternalPerson[]>;
  /** Counts for "test connection". */
  census(): Promise<{ users: number; groups: number }>;
}

export async function withDirectory<T>(cfg: LdapConfig, bindPassword: string, production: boolean, fn: (d: Directory) => Promise<T>): Promise<T> {
  if (cfg.security === "none" && production) throw new DomainError("identity_source.insecure_transport", "plain LDAP refused in production");
  const url = new URL(cfg.url);
  if ((cfg.security === "ldaps") !== (url.protocol === "ldaps:"))
    throw new DomainError("identity_source.insecure_transport", "the URL scheme does not match the security setting", { security: cfg.security });
  const tlsOptions = { ...(cfg.tls_ca_pem ? { ca: [cfg.tls_ca_pem] } : {}), minVersion: "TLSv1.2" as const };
  const connect = async () => {
    const c = new Client({ url: cfg.url, timeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS, ...(cfg.security === "ldaps" ? { tlsOptions } : {}) });
    if (cfg.security === "starttls") await c.startTLS(tlsOptions);
    return c;
  };
  const service = await connect().catch(unreachable);
  try {
    await service.bind(cfg.bind_dn, bindPassword).catch(unreachable);
    return await fn(directory(cfg, service, connect));
  } finally {
    await service.unbind().catch(() => {});
  }
}

function directory(cfg: LdapConfig, service: Client, connect: () => Promise<Client>): Directory {
  const userAttributes = [cfg.login_attribute, cfg.email_attribute, cfg.name_attribute, cfg.id_attribute];
  const groupsOf = async (dn: string) => {
    const { searchEntries } = await service.search(cfg.group_base_dn, {
      scope: "sub",
      filter: `(&${cfg.group_filter}(${cfg.group_member_attribute}=${escapeFilterValue(dn)}))`,
      attributes: ["dn"],
      sizeLimit: MAX_ENTRIES,
    });
    return searchEntries.map((g) => g.dn);
  };
  const person = (e: Entry, groups: string[]): ExternalPerson | null => {
    const subject = first(e[cfg.id_attribute]);
    const email = first(e[cfg.email_attribute])?.toLowerCase();
    if (!subject || !email) return null;
    return { subject, email, displayName: first(e[cfg.name_attribute]) ?? email, groups };
  };
  return {
    async authenticate(login, password) {
      if (!password) return null; // an empty password would be an anonymous bind, which "succeeds"
      const { searchEntries } = await service.search(cfg.user_base_dn, {
        scope: "sub",
        filter: `(&${cfg.user_filter}(${cfg.login_attribute}=${escapeFilterValue(login)}))`,
        attributes: userAttributes,
        sizeLimit: 2,
      });
      if (searchEntries.length !== 1) return null;
      const entry = searchEntries[0]!;
      const asUser = await connect().catch(unreachable);
      try {
        await asUser.bind(entry.dn, password);
      } catch {
        return null;
      } finally {
        await asUser.unbind().catch(() => {});
      }
      return person(entry, await groupsOf(entry.dn));
    },
    async people() {
      const users = await service.search(cfg.user_base_dn, { scope: "sub", filter: cfg.user_filter, attributes: userAttributes, sizeLimit: MAX_ENTRIES });
      const groups = await service.search(cfg.group_base_dn, {
        scope: "sub",
        filter: cfg.group_filter,
        attributes: [cfg.group_member_attribute],
        sizeLimit: MAX_ENTRIES,
      });
      const groupsByMember = new Map<string, string[]>();
      for (const g of groups.searchEntries)
        for (const member of all(g[cfg.group_member_attribute])) {
          const key = normalizeDn(member);
          groupsByMember.set(key, [...(groupsByMember.get(key) ?? []), g.dn]);
        }
      return users.searchEntries.flatMap((u) => person(u, groupsByMember.get(normalizeDn(u.dn)) ?? []) ?? []);
    },
    async census() {
      const users = await service.search(cfg.user_base_dn, { scope: "sub", filter: cfg.user_filter, attributes: ["dn"], sizeLimit: MAX_ENTRIES });
      const groups = await service.search(cfg.group_base_dn, { scope: "sub", filter: cfg.group_filter, attributes: ["dn"], sizeLimit: MAX_ENTRIES });
      return { users: users.searchEntries.length, groups: groups.searchEntries.length };
    },
  };
}

/** DNs compare without case and without spaces after commas (what directories return varies). */
const normalizeDn = (dn: string) => dn.toLowerCase().replace(/,\s+/g, ",");

function all(v: Entry[string] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === "string" ? x : x.toString("utf8")));
}
const first = (v: Entry[string] | undefined) => all(v)[0];

function unreachable(err: unknown): never {
  // The LDAP result name (InvalidCredentialsError, ...) or the socket error code; never a credential.
  const reason = err instanceof Error ? ((err as { code?: string | number }).code?.toString() ?? err.name) : "error";
  throw new DomainError("identity_source.unreachable", "directory unreachable or bind refused", { reason }, { cause: err });
}
