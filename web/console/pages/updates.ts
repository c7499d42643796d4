/**
 * Releases and rollouts of one cluster (docs/updates.md): the published
 * releases (blocklisted ones marked), where each channel points, every
 * rollout with its progress per ring (pause, resume, halt), and each node's
 * channel, ring and last reported update state. Live.
 */
import { api } from "../../lib/api.ts";
import { badge, h, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { ago, when } from "../../lib/format.ts";
import type { PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";

interface Release {
  version: string;
  proposed_channel: string;
  published_at: string;
  blocked: boolean;
  blocked_reason: string | null;
}
interface Ring {
  ring: string;
  reached: boolean;
  nodes: number;
  running: number;
  failed: number;
}
interface Rollout {
  id: string;
  channel: string;
  from_version: string | null;
  to_version: string;
  status: string;
  halted_reason: string | null;
  created_at: string;
  rings: Ring[];
}
interface NodeUpdate {
  node_id: string;
  name: string;
  channel: string;
  ring: string;
  update: { state: string; current: string | null; target: string | null; reason: string | null; reported_at: string } | null;
  /** What its heartbeats ask it to run now. */
  asked: { version: string; request_id: string } | null;
}
interface Picture {
  channels: { channel: string; version: string | null; updated_at: string | null }[];
  rollouts: Rollout[];
  nodes: NodeUpdate[];
}

const ringProgress = (r: Ring) =>
  h(
    "span",
    { class: `chip ${r.reached ? "active" : ""}`, "data-ring": r.ring },
    `${r.ring}: ${r.running}/${r.nodes} running${r.failed ? `, ${r.failed} failed` : ""}`,
  );

export async function updatesPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Releases and rollouts"), noClusters()) };
  const out = h("div", { class: "error", "data-testid": "updates-error" });
  const body = h("div", {});
  const command = (r: Rollout, what: "pause" | "resume" | "halt") =>
    h(
      "button",
      {
        type: "button",
        "data-testid": `rollout-${what}`,
        onclick: () =>
          attempt(out, async () => {
            await api.post(`/versions/clusters/${cluster.id}/rollouts/${r.id}/${what}`, what === "halt" ? { reason: "halted from the console" } : undefined);
            await load();
          }),
      },
      what,
    );
  async function load(): Promise<void> {
    const [releases, pic] = await Promise.all([api.get<{ items: Release[] }>("/versions/releases"), api.get<Picture>(`/versions/clusters/${cluster!.id}`)]);
    body.replaceChildren(
      section(
        "Channels",
        table(
          [
            { title: "Channel", cell: (c) => h("code", {}, c.channel) },
            { title: "Version", cell: (c) => c.version ?? "—" },
            { title: "Changed", cell: (c) => when(c.updated_at) },
          ],
          pic.channels,
          { testid: "channels", rowId: (c) => c.channel },
        ),
      ),
      section(
        "Rollouts",
        table(
          [
            { title: "Channel", cell: (r) => h("code", {}, r.channel) },
            { title: "From → to", cell: (r) => `${r.from_version ?? "—"} → ${r.to_version}` },
            {
              title: "Status",
              cell: (r) =>
                h(
                  "span",
                  {},
                  badge(r.status === "active" || r.status === "completed" ? "active" : "disabled", r.status),
                  r.halted_reason ? ` ${r.halted_reason}` : "",
                ),
            },
            { title: "Rings", cell: (r) => h("span", { class: "chips" }, r.rings.map(ringProgress)) },
            { title: "Started", cell: (r) => when(r.created_at) },
            {
              title: "",
              cell: (r) =>
                r.status === "active" ? [command(r, "pause"), command(r, "halt")] : r.status === "paused" ? [command(r, "resume"), command(r, "halt")] : null,
            },
          ],
          pic.rollouts,
          { testid: "rollouts", rowId: (r) => r.id, empty: "No rollouts yet." },
        ),
      ),
      section(
        "Nodes",
        table(
          [
            { title: "Node", cell: (n) => n.name },
            { title: "Channel", cell: (n) => h("code", {}, n.channel) },
            { title: "Ring", cell: (n) => n.ring },
            { title: "Update state", cell: (n) => badge(n.update?.state ?? "unknown") },
            { title: "Running", cell: (n) => n.update?.current ?? "—" },
            { title: "Target", cell: (n) => n.update?.target ?? "—" },
            { title: "Asked to run", cell: (n) => n.asked?.version ?? "—" },
            { title: "Reason", cell: (n) => n.update?.reason ?? "" },
            { title: "Reported", cell: (n) => ago(n.update?.reported_at) },
          ],
          pic.nodes,
          { testid: "node-updates", rowId: (n) => n.node_id, empty: "No nodes in this cluster." },
        ),
      ),
      section(
        "Releases",
        table(
          [
            { title: "Version", cell: (r) => h("code", {}, r.version) },
            { title: "Proposed channel", cell: (r) => r.proposed_channel },
            { title: "Published", cell: (r) => when(r.published_at) },
            { title: "Blocklisted", cell: (r) => (r.blocked ? badge("disabled", `blocked: ${r.blocked_reason ?? ""}`) : "—") },
          ],
          releases.items,
          { testid: "releases", rowId: (r) => r.version, empty: "No releases published: scripts/release push." },
        ),
      ),
    );
  }
  await load();
  return {
    el: h("div", {}, h("h1", {}, "Releases and rollouts"), h("div", { class: "toolbar" }, clusterPicker("/updates", cluster, clusters, query)), out, body),
    refresh: load,
  };
}
