/**
 * Clusters: the paged list with status, membership, health, partition
 * warnings, role coverage and workloads, a form to create one, and a detail
 * page per cluster with its authority fingerprints. Live.
 */
import { api, type Page } from "../../lib/api.ts";
import { badge, fact, facts, field, formValues, h, link, mount, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { when } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";
import type { Cluster } from "../clusters.ts";
import { loadOverview, type ClusterStats } from "../overview-data.ts";

const roleList = (roles: Record<string, number>) => Object.entries(roles).map(([r, n]) => badge("active", `${r} ×${n}`));

export async function clustersPage(): Promise<PageView> {
  let stats = new Map<string, ClusterStats>();
  const loadStats = async () => (stats = new Map((await loadOverview()).per_cluster.map((c) => [c.id, c])));
  await loadStats();
  const list = pager<Cluster>(
    (after) => api.get<Page<Cluster>>("/clusters", { after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Name", cell: (c) => link(`#/clusters/${c.id}`, c.name) },
          { title: "Slug", cell: (c) => h("code", {}, c.slug) },
          { title: "Region", cell: (c) => c.region ?? "—" },
          { title: "Status", cell: (c) => badge(c.status) },
          { title: "Partition", cell: (c) => (c.partition_state === "minority" ? badge("minority", "minority partition") : badge("normal")) },
          { title: "Nodes", cell: (c) => String(stats.get(c.id)?.nodes.total ?? 0) },
          { title: "Healthy", cell: (c) => String(stats.get(c.id)?.nodes.by_health.healthy ?? 0) },
          { title: "Roles", cell: (c) => roleList(stats.get(c.id)?.roles ?? {}) },
          { title: "Missing roles", cell: (c) => (stats.get(c.id)?.missing_roles ?? []).map((r) => badge("warning", r)) },
        ],
        items,
        { testid: "clusters", rowId: (c) => c.id, empty: "No clusters yet." },
      ),
    "clusters-pager",
  );
  await list.reload();

  const out = h("div");
  const form = h(
    "form",
    {
      class: "inline",
      "data-testid": "new-cluster",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void attempt(out, async () => {
          const v = formValues(form);
          const c = await api.post<Cluster>("/clusters", { name: v.name, slug: v.slug, ...(v.region ? { region: v.region } : {}) });
          form.reset();
          location.hash = `#/clusters/${c.id}`;
        });
      },
    },
    field("Name", h("input", { name: "name", required: true })),
    field("Slug", h("input", { name: "slug", required: true, pattern: "[a-z0-9][a-z0-9-]*" })),
    field("Region", h("input", { name: "region" })),
    h("button", { type: "submit", class: "primary" }, "Create cluster"),
  );
  return {
    el: h("div", {}, h("h1", {}, "Clusters"), section("New cluster", form, out), section("All clusters", list.el)),
    refresh: async () => {
      await loadStats();
      await list.reload();
    },
  };
}

interface Authority {
  term: number;
  partition_state: string;
  signing_fingerprint: string;
  ca_fingerprint: string;
}

export async function clusterPage(params: Record<string, string>): Promise<PageView> {
  const id = params.id!;
  const body = h("div");
  const load = async () => {
    const [c, authority, overview] = await Promise.all([api.get<Cluster>(`/clusters/${id}`), api.get<Authority>(`/clusters/${id}/authority`), loadOverview()]);
    const s = overview.per_cluster.find((x) => x.id === id);
    mount(
      body,
      h("h1", {}, c.name, " ", badge(c.status)),
      c.partition_state === "minority"
        ? h(
            "div",
            { class: "notice bad", "data-testid": "partition-warning" },
            "Minority partition: enrollment, role and trust changes are refused until the owner promotes or merges it.",
          )
        : null,
      facts(
        fact("Slug", h("code", {}, c.slug)),
        fact("Region", c.region ?? "—"),
        fact("Created", when(c.created_at)),
        fact("Partition", badge(c.partition_state), "cluster-partition"),
        fact("Authority term", String(authority.term)),
        fact("Signing key fingerprint", h("code", {}, authority.signing_fingerprint), "cluster-signing-fingerprint"),
        fact("CA fingerprint", h("code", {}, authority.ca_fingerprint), "cluster-ca-fingerprint"),
      ),
      section(
        "Membership and health",
        facts(
          fact("Nodes", String(s?.nodes.total ?? 0), "cluster-node-count"),
          fact(
            "By status",
            Object.entries(s?.nodes.by_status ?? {}).map(([k, n]) => badge(k, `${k} ${n}`)),
          ),
          fact(
            "Healthy / stale / offline",
            `${s?.nodes.by_health.healthy ?? 0} / ${s?.nodes.by_health.stale ?? 0} / ${s?.nodes.by_health.offline ?? 0}`,
            "cluster-health",
          ),
          fact("Pending join requests", link(href("/join-requests", { cluster: id }), String(s?.pending_join_requests ?? 0))),
        ),
      ),
      section(
        "Roles and services",
        facts(
          fact("Role coverage", roleList(s?.roles ?? {}), "cluster-roles"),
          fact("Missing roles", (s?.missing_roles ?? []).length ? (s?.missing_roles ?? []).map((r) => badge("warning", r)) : "none"),
          fact(
            "Workloads",
            `${s?.workloads.running ?? 0} running of ${s?.workloads.desired_running ?? 0} desired, ${s?.workloads.failed ?? 0} failed`,
            "cluster-workloads",
          ),
        ),
      ),
      h(
        "p",
        {},
        link(href("/nodes", { cluster: id }), "Nodes"),
        " · ",
        link(href("/join-requests", { cluster: id }), "Join requests and tokens"),
        " · ",
        link(href("/workloads", { cluster: id }), "Workloads"),
        " · ",
        link(href("/trust", { cluster: id }), "Trust"),
      ),
    );
  };
  await load();
  return { el: body, refresh: load };
}
