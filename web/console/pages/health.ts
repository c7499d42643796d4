/** Health and alerts: risky states (partitions, offline or stale nodes, failed workloads, expiring certificates, pending reviews) and health per cluster. Live. */
import { badge, h, link, mount, section, table } from "../../lib/dom.ts";
import { href, type PageView } from "../../lib/router.ts";
import { loadOverview, type Overview, type Risk } from "../overview-data.ts";

export function risksTable(risks: Risk[]): HTMLElement {
  return table(
    [
      { title: "Severity", cell: (r) => badge(r.severity) },
      { title: "Cluster", cell: (r) => link(`#/clusters/${r.cluster_id}`, r.cluster_name) },
      { title: "What", cell: (r) => r.message },
      { title: "Kind", cell: (r) => h("code", {}, r.kind) },
    ],
    risks,
    { testid: "risks", empty: "No risky states." },
  );
}

export async function healthPage(): Promise<PageView> {
  const body = h("div");
  const render = (o: Overview) =>
    mount(
      body,
      section("Alerts", risksTable(o.risky_states)),
      section(
        "Health by cluster",
        table(
          [
            { title: "Cluster", cell: (c) => link(`#/clusters/${c.id}`, c.name) },
            { title: "Partition", cell: (c) => badge(c.partition_state) },
            { title: "Healthy", cell: (c) => link(href("/nodes", { cluster: c.id, health: "healthy" }), String(c.nodes.by_health.healthy)) },
            { title: "Stale", cell: (c) => link(href("/nodes", { cluster: c.id, health: "stale" }), String(c.nodes.by_health.stale)) },
            { title: "Offline", cell: (c) => link(href("/nodes", { cluster: c.id, health: "offline" }), String(c.nodes.by_health.offline)) },
            { title: "Workloads failed", cell: (c) => (c.workloads.failed ? badge("failed", String(c.workloads.failed)) : "0") },
            { title: "Certificates expiring (7 d)", cell: (c) => String(c.certificates.expiring_soon) },
          ],
          o.per_cluster,
          { testid: "health-clusters" },
        ),
      ),
    );
  render(await loadOverview());
  return { el: h("div", {}, h("h1", {}, "Health and alerts"), body), refresh: async () => render(await loadOverview()) };
}
