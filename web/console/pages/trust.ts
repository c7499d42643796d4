/**
 * Trust and certificates of one cluster: the cluster authority (signing key
 * and CA fingerprints, term, partition state), certificate counts and the
 * next expiry, the signed revocation list version, and the installation's
 * Product Root signed platform role grants.
 */
import { api } from "../../lib/api.ts";
import { badge, fact, facts, h, section, table } from "../../lib/dom.ts";
import { ago, when } from "../../lib/format.ts";
import type { PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";
import { loadOverview } from "../overview-data.ts";

interface Authority {
  term: number;
  partition_state: string;
  signing_fingerprint: string;
  ca_fingerprint: string;
  ca_certificate: string;
}
interface Grant {
  id: string;
  user_id: string;
  role: string;
  key_fingerprint: string;
  created_at: string;
  revoked_at: string | null;
}

/** The payload of a compact JWS, for showing what a signed revocation list says (the signature is checked by agents, not here). */
function jwsPayload(jws: string | null): { revoked?: unknown[]; issued_at?: string } {
  if (!jws) return {};
  try {
    const part = jws.split(".")[1] ?? "";
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as { revoked?: unknown[]; issued_at?: string };
  } catch {
    return {};
  }
}

export async function trustPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Trust and certificates"), noClusters()) };
  const [authority, revocations, overview, grants] = await Promise.all([
    api.get<Authority>(`/clusters/${cluster.id}/authority`),
    api.get<{ version: number; revocation_list: string | null }>(`/clusters/${cluster.id}/revocations`),
    loadOverview(),
    api.get<{ items: Grant[] }>("/platform/role-grants").catch(() => ({ items: [] as Grant[] })),
  ]);
  const certs = overview.per_cluster.find((c) => c.id === cluster.id)?.certificates;
  const list = jwsPayload(revocations.revocation_list);
  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Trust and certificates"),
      h("div", { class: "toolbar" }, clusterPicker("/trust", cluster, clusters, query)),
      section(
        "Cluster authority",
        facts(
          fact("Signing key fingerprint", h("code", {}, authority.signing_fingerprint), "trust-signing-fingerprint"),
          fact("CA certificate fingerprint", h("code", {}, authority.ca_fingerprint), "trust-ca-fingerprint"),
          fact("Authority term", String(authority.term)),
          fact("Partition state", badge(authority.partition_state)),
        ),
      ),
      section(
        "Node certificates",
        facts(
          fact("Active certificates", String(certs?.active ?? 0), "trust-active-certs"),
          fact("Expiring within 7 days", String(certs?.expiring_soon ?? 0)),
          fact("Next expiry", certs?.next_expiry ? `${when(certs.next_expiry)} (${ago(certs.next_expiry)})` : "—", "trust-next-expiry"),
        ),
      ),
      section(
        "Revocations",
        facts(
          fact("Revocation list version", String(revocations.version), "trust-revocation-version"),
          fact("Revoked certificates", String(list.revoked?.length ?? 0), "trust-revoked-count"),
          fact("Issued", when(list.issued_at)),
        ),
      ),
      section(
        "Platform role grants (Product Root signed)",
        table(
          [
            { title: "Role", cell: (g) => g.role },
            { title: "User", cell: (g) => h("code", {}, g.user_id) },
            { title: "Signed by key", cell: (g) => h("code", {}, g.key_fingerprint) },
            { title: "Recorded", cell: (g) => when(g.created_at) },
            { title: "State", cell: (g) => (g.revoked_at ? badge("revoked") : badge("active")) },
          ],
          grants.items,
          { testid: "grants", empty: "No signed grants (dev mode installs have none)." },
        ),
      ),
    ),
  };
}
