/**
 * Nodes of one cluster: the node-group tree on the side (with a form to add
 * a group), filters by status, health and group, and a keyset-paged table
 * that stays light with 10,000 nodes. Live.
 */
import { api, type Page } from "../../lib/api.ts";
import { badge, field, formValues, h, link, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { ago } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";

export interface NodeSummary {
  id: string;
  cluster_id: string;
  name: string;
  status: string;
  health: string;
  /** Null: the node never sent a heartbeat. */
  last_heartbeat_at: string | null;
  group_id: string | null;
  capabilities: Record<string, boolean>;
  facts: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}
/** Health as the console shows it: a node never heard from is "never seen", not the healthy it starts with. */
export const healthBadge = (n: { health: string; last_heartbeat_at: string | null }) =>
  n.last_heartbeat_at === null && n.health === "healthy" ? badge("never seen") : badge(n.health);

interface Group {
  id: string;
  name: string;
  children: Group[];
}

export async function nodesPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Nodes"), noClusters()) };
  const filter = { status: query.get("status") ?? undefined, health: query.get("health") ?? undefined, group_id: query.get("group") ?? undefined };
  const groups = (await api.get<{ items: Group[] }>(`/clusters/${cluster.id}/node-groups`)).items;
  const to = (extra: Record<string, string | undefined>) => href("/nodes", { cluster: cluster.id, ...filter, ...extra });

  const list = pager<NodeSummary>(
    (after) => api.get<Page<NodeSummary>>(`/clusters/${cluster.id}/nodes`, { ...filter, after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Name", cell: (n) => link(`#/nodes/${cluster.id}/${n.id}`, n.name) },
          { title: "Status", cell: (n) => badge(n.status) },
          { title: "Health", cell: (n) => healthBadge(n) },
          { title: "Last heartbeat", cell: (n) => (n.last_heartbeat_at ? ago(n.last_heartbeat_at) : "never") },
          { title: "Group", cell: (n) => groupName(groups, n.group_id) },
          { title: "OS / arch", cell: (n) => `${String(n.facts.os ?? "?")} / ${String(n.facts.arch ?? "?")}` },
          { title: "Changed", cell: (n) => ago(n.updated_at) },
        ],
        items,
        { testid: "nodes", rowId: (n) => n.id, empty: "No nodes match." },
      ),
    "nodes-pager",
  );
  await list.reload();

  const out = h("div");
  const groupForm = h(
    "form",
    {
      class: "stack",
      "data-testid": "new-group",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void attempt(out, async () => {
          const v = formValues(groupForm);
          await api.post(`/clusters/${cluster.id}/node-groups`, { name: v.name, ...(v.parent_id ? { parent_id: v.parent_id } : {}) });
          dispatchEvent(new HashChangeEvent("hashchange"));
        });
      },
    },
    field("New group", h("input", { name: "name", required: true })),
    field(
      "Inside",
      h(
        "select",
        { name: "parent_id" },
        h("option", { value: "" }, "(top level)"),
        flatten(groups).map((g) => h("option", { value: g.id }, g.name)),
      ),
    ),
    h("button", { type: "submit" }, "Add group"),
  );

  const tree = (gs: Group[]): HTMLElement =>
    h(
      "ul",
      { class: "tree" },
      gs.map((g) =>
        h(
          "li",
          {},
          h("a", { href: to({ group: g.id }), class: filter.group_id === g.id ? "active" : undefined }, g.name),
          g.children.length ? tree(g.children) : null,
        ),
      ),
    );
  const chip = (label: string, extra: Record<string, string | undefined>, active: boolean) =>
    h("a", { href: to(extra), class: `chip ${active ? "active" : ""}` }, label);

  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Nodes"),
      h(
        "div",
        { class: "toolbar" },
        clusterPicker("/nodes", cluster, clusters, query),
        h(
          "span",
          { class: "chips", "data-testid": "health-filter" },
          chip("all", { health: undefined }, !filter.health),
          ["healthy", "stale", "offline"].map((x) => chip(x, { health: x }, filter.health === x)),
        ),
        h(
          "span",
          { class: "chips" },
          chip("any status", { status: undefined }, !filter.status),
          ["active", "draining", "disabled", "revoked"].map((x) => chip(x, { status: x }, filter.status === x)),
        ),
      ),
      h(
        "div",
        { class: "split" },
        h(
          "aside",
          { "data-testid": "group-tree" },
          h("h2", {}, "Node groups"),
          h("a", { href: to({ group: undefined }), class: filter.group_id ? undefined : "active" }, "All nodes"),
          tree(groups),
          groupForm,
          out,
        ),
        h("div", {}, list.el),
      ),
    ),
    refresh: list.reload,
  };
}

function flatten(gs: Group[]): Group[] {
  return gs.flatMap((g) => [g, ...flatten(g.children)]);
}

function groupName(gs: Group[], id: string | null): string {
  return id ? (flatten(gs).find((g) => g.id === id)?.name ?? "—") : "—";
}
