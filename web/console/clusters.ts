/**
 * The cluster in view. Per-cluster pages (nodes, join requests, roles,
 * workloads, trust) take `?cluster=<id>`; without it they use the last
 * cluster chosen in this tab, or the first one. The picker lists clusters
 * page by page from the API, so it never loads them all.
 */
import { api, type Page } from "../lib/api.ts";
import { h } from "../lib/dom.ts";

export interface Cluster {
  id: string;
  name: string;
  slug: string;
  status: string;
  region: string | null;
  partition_state: string;
  authority_term: number;
  created_at: string;
}

const KEY = "rap.cluster";

export async function currentCluster(query: URLSearchParams): Promise<{ cluster: Cluster | null; clusters: Cluster[] }> {
  const clusters = (await api.get<Page<Cluster>>("/clusters", { limit: "200" })).items;
  const wanted = query.get("cluster") ?? sessionStorage.getItem(KEY);
  const cluster = clusters.find((c) => c.id === wanted) ?? clusters[0] ?? null;
  if (cluster) sessionStorage.setItem(KEY, cluster.id);
  return { cluster, clusters };
}

/** A select that switches the page to another cluster, keeping the rest of the query. */
export function clusterPicker(path: string, current: Cluster, clusters: Cluster[], query: URLSearchParams): HTMLElement {
  return h(
    "label",
    { class: "picker" },
    "Cluster ",
    h(
      "select",
      {
        "data-testid": "cluster-picker",
        onchange: (e: Event) => {
          const q = new URLSearchParams(query);
          q.set("cluster", (e.target as HTMLSelectElement).value);
          location.hash = `${path}?${q}`;
        },
      },
      clusters.map((c) => h("option", { value: c.id, selected: c.id === current.id }, `${c.name} (${c.slug})`)),
    ),
  );
}

export const noClusters = () =>
  h("p", { class: "muted", "data-testid": "no-clusters" }, "No clusters yet. ", h("a", { href: "#/clusters" }, "Create one"), " first.");
