/** Service workloads of one cluster: each assigned role's service, desired vs reported state, version and last report, filterable by state. Live. */
import { api, type Page } from "../../lib/api.ts";
import { badge, h, link, table } from "../../lib/dom.ts";
import { ago } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";
import type { Workload } from "../workload-data.ts";

const STATES = ["running", "starting", "failed", "stopped", "unsupported", "unknown"];

export async function workloadsPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Service workloads"), noClusters()) };
  const state = query.get("state") ?? undefined;
  const list = pager<Workload>(
    (after) => api.get<Page<Workload>>(`/clusters/${cluster.id}/workloads`, { reported_state: state, after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Service", cell: (w) => h("code", {}, w.role) },
          { title: "Node", cell: (w) => link(`#/nodes/${cluster.id}/${w.node_id}`, w.node_name) },
          { title: "Desired", cell: (w) => (w.service ? badge(w.service.desired_state === "running" ? "active" : "disabled", w.service.desired_state) : "—") },
          { title: "Reported", cell: (w) => badge(w.service?.reported_state ?? "unknown") },
          { title: "Version", cell: (w) => w.service?.version ?? "—" },
          { title: "Last report", cell: (w) => ago(w.service?.last_report_at) },
          { title: "Node health", cell: (w) => badge(w.node_health) },
        ],
        items,
        { testid: "workloads", rowId: (w) => w.assignment_id, empty: "No workloads: assign a role to a node." },
      ),
    "workloads-pager",
  );
  await list.reload();
  const chip = (s: string | undefined, label: string) =>
    h("a", { href: href("/workloads", { cluster: cluster.id, state: s }), class: `chip ${s === state ? "active" : ""}` }, label);
  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Service workloads"),
      h(
        "div",
        { class: "toolbar" },
        clusterPicker("/workloads", cluster, clusters, query),
        h(
          "span",
          { class: "chips" },
          chip(undefined, "all"),
          STATES.map((s) => chip(s, s)),
        ),
      ),
      list.el,
    ),
    refresh: list.reload,
  };
}
