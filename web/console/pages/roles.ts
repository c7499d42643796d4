/**
 * Role assignments of one cluster: coverage per role (and what is missing),
 * every active assignment with its organization restriction, removal, and a
 * link to the role-change audit. Roles are assigned from a node's page,
 * where its capabilities are shown. Live.
 */
import { api, type Page } from "../../lib/api.ts";
import { badge, h, link, mount, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { when } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";
import { loadOverview } from "../overview-data.ts";
import { ROLES } from "../roles.ts";
import type { Workload } from "../workload-data.ts";

export async function rolesPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Role assignments"), noClusters()) };
  const role = query.get("role") ?? undefined;
  const orgs = new Map((await api.get<Page<{ id: string; name: string }>>("/organizations", { limit: "200" })).items.map((o) => [o.id, o.name]));
  const out = h("div");
  const coverage = h("div");
  const loadCoverage = async () => {
    const s = (await loadOverview()).per_cluster.find((c) => c.id === cluster.id);
    mount(
      coverage,
      table(
        [
          { title: "Role", cell: (r) => link(href("/roles", { cluster: cluster.id, role: r }), r) },
          { title: "Active nodes", cell: (r) => String(s?.roles[r] ?? 0) },
          { title: "", cell: (r) => (s?.missing_roles.includes(r) ? badge("warning", "required, missing") : s?.roles[r] ? badge("active", "covered") : "") },
        ],
        ROLES,
        { testid: "role-coverage" },
      ),
    );
  };
  const list = pager<Workload>(
    (after) => api.get<Page<Workload>>(`/clusters/${cluster.id}/workloads`, { role, after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Role", cell: (w) => h("code", {}, w.role) },
          { title: "Node", cell: (w) => link(`#/nodes/${cluster.id}/${w.node_id}`, w.node_name) },
          { title: "Node health", cell: (w) => badge(w.node_health) },
          { title: "Organization", cell: (w) => (w.organization_id ? (orgs.get(w.organization_id) ?? w.organization_id) : "all organizations") },
          { title: "Egress pool", cell: (w) => String(w.policy.egress_pool ?? "—") },
          { title: "Assigned", cell: (w) => when(w.assigned_at) },
          {
            title: "",
            cell: (w) =>
              h(
                "button",
                {
                  type: "button",
                  onclick: () =>
                    attempt(out, async () => {
                      await api.del(`/clusters/${cluster.id}/nodes/${w.node_id}/roles/${w.assignment_id}`);
                      await list.reload();
                    }),
                },
                "Remove",
              ),
          },
        ],
        items,
        { testid: "role-assignments", rowId: (w) => w.assignment_id, empty: "No active role assignments." },
      ),
    "roles-pager",
  );
  await Promise.all([list.reload(), loadCoverage()]);
  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Role assignments"),
      h(
        "div",
        { class: "toolbar" },
        clusterPicker("/roles", cluster, clusters, query),
        role ? h("span", {}, "role ", h("code", {}, role), " · ", link(href("/roles", { cluster: cluster.id }), "all roles")) : null,
      ),
      out,
      section("Coverage", coverage),
      section(
        "Assignments",
        list.el,
        h(
          "p",
          { class: "muted" },
          "Assign a role from a ",
          link(href("/nodes", { cluster: cluster.id }), "node's page"),
          ". ",
          link(href("/audit", { action: "node.role_assigned" }), "Audit of role assignments"),
          " · ",
          link(href("/audit", { action: "node.role_removed" }), "removals"),
        ),
      ),
    ),
    refresh: async () => {
      await list.reload();
      await loadCoverage();
    },
  };
}
