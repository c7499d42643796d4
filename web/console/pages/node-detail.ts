/**
 * Node detail: identity and certificates (expiry, and the agent's renewal
 * state from its heartbeats), membership, health, capabilities,
 * roles (assign, restrict to an organization, remove), services desired vs
 * reported, last heartbeat, agent version, update state, lifecycle actions
 * and the node's audit timeline. Live.
 */
import { api, type Page } from "../../lib/api.ts";
import { badge, fact, facts, field, formValues, h, link, mount, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { prompt } from "../../lib/dialog.ts";
import { ago, bytes, when } from "../../lib/format.ts";
import { href, type PageView } from "../../lib/router.ts";
import { ROLE_REQUIRES, ROLES } from "../roles.ts";
import { healthBadge, type NodeSummary } from "./nodes.ts";
import { auditTable, type AuditEvent } from "./audit.ts";

interface NodeDetail extends NodeSummary {
  identities: { certificate_serial: string; fingerprint: string; not_before: string; not_after: string; status: string }[];
  roles: { id: string; role: string; organization_id: string | null; policy: Record<string, unknown>; assigned_by_user_id: string; assigned_at: string }[];
  services: { service_type: string; desired_state: string; reported_state: string; version: string | null; last_heartbeat_at: string | null }[];
  last_heartbeat: { received_at: string; seq: number; agent_version: string | null; telemetry: Record<string, unknown> } | null;
}
/** The mesh part of the node's signed snapshot (core/contracts/snapshot.ts): who it peers with and over which relays. */
interface SnapshotMesh {
  peers: { node_id: string; name: string; roles: string[]; endpoints: { address: string }[] }[];
  relays: string[];
  route_paths: { to: string; via: string[]; alternates: string[][]; pinned?: true }[];
}

/** The snapshot's payload, read for display only (the agents verify the signature, the console does not need to). */
function snapshotMesh(jws: string): SnapshotMesh | null {
  const part = jws.split(".")[1] ?? "";
  const bin = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const body = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))) as { mesh?: SnapshotMesh };
  return body.mesh ?? null;
}

function meshSection(clusterId: string, mesh: SnapshotMesh | null, seen: boolean) {
  if (!mesh)
    return section(
      "Mesh",
      h("p", { class: "muted", "data-testid": "node-mesh" }, "Not in the mesh: the node has no mesh role (entry, relay, video relay, adapter or VPN)."),
    );
  const nameOf = (id: string) => mesh.peers.find((p) => p.node_id === id)?.name ?? id;
  const path = (to: string) => {
    const r = mesh.route_paths.find((p) => p.to === to);
    if (!r) return "direct";
    return `via ${r.via.map(nameOf).join(" → ")}${r.pinned ? " (pinned)" : ""}${r.alternates.length ? `; ${r.alternates.length} alternate(s)` : ""}`;
  };
  return section(
    "Mesh",
    seen ? [] : h("p", { class: "muted" }, "This node never sent a heartbeat: these are the peers it is told about, not ones it reached."),
    table(
      [
        { title: "Peer", cell: (p) => link(`#/nodes/${clusterId}/${p.node_id}`, p.name) },
        { title: "Roles", cell: (p) => p.roles.join(", ") },
        { title: "Endpoint", cell: (p) => p.endpoints.map((e) => e.address).join(", ") || "none advertised" },
        { title: "Path", cell: (p) => path(p.node_id) },
      ],
      mesh.peers,
      { testid: "node-mesh", empty: "No other mesh node in this cluster yet." },
    ),
  );
}

interface Org {
  id: string;
  name: string;
  slug: string;
}

export async function nodeDetailPage(params: Record<string, string>): Promise<PageView> {
  const clusterId = params.cluster!;
  const nodeId = params.node!;
  const base = `/clusters/${clusterId}/nodes/${nodeId}`;
  const orgs = (await api.get<Page<Org>>("/organizations", { limit: "200" })).items;
  const orgName = (id: string | null) => (id ? (orgs.find((o) => o.id === id)?.name ?? id) : "all organizations");
  const body = h("div");
  const out = h("div", { "data-testid": "node-actions-result" });

  const load = async () => {
    const [n, audit, snapshot] = await Promise.all([
      api.get<NodeDetail>(base),
      api.get<Page<AuditEvent>>("/audit", { target_id: nodeId, limit: "50" }),
      api.get<{ jws: string }>(`${base}/snapshot`).catch(() => null),
    ]);
    const hb = n.last_heartbeat;
    const t = hb?.telemetry ?? {};
    const active = n.identities.find((i) => i.status === "active");
    const expired = active !== undefined && Date.parse(active.not_after) <= Date.now();
    mount(
      body,
      h("h1", { "data-testid": "node-name" }, n.name, " ", badge(n.status), " ", healthBadge(n)),
      section(
        "Identity",
        facts(
          fact("Node id", h("code", {}, n.id), "node-id"),
          fact("Key fingerprint", h("code", {}, active?.fingerprint ?? "—"), "node-fingerprint"),
          fact("Certificate serial", h("code", {}, active?.certificate_serial ?? "—")),
          fact(
            "Certificate expires",
            active ? h("span", {}, `${when(active.not_after)} (${ago(active.not_after)})`, expired ? [" ", badge("expired")] : []) : "—",
            "node-cert-expiry",
          ),
          fact("Certificate renewal", renewal(t, expired), "node-cert-renewal"),
          fact("Enrolled", when(n.created_at)),
        ),
      ),
      section(
        "Membership and health",
        facts(
          fact("Cluster", link(`#/clusters/${n.cluster_id}`, n.cluster_id)),
          fact("Status", badge(n.status), "node-status"),
          fact("Health", healthBadge(n), "node-health"),
          fact("Last heartbeat", hb ? `${when(hb.received_at)} (${ago(hb.received_at)}, #${hb.seq})` : "never", "node-last-heartbeat"),
          fact("Agent version", hb?.agent_version ?? "—", "node-version"),
          fact("Update state", typeof t.update_state === "string" ? t.update_state : "up to date (no update pending)", "node-update-state"),
          fact("Snapshot applied", t.snapshot_version === undefined ? "—" : `v${String(t.snapshot_version)}`, "node-snapshot-version"),
          fact("Memory", `${bytes(t.memory_free_bytes)} free of ${bytes(t.memory_total_bytes)}`),
          fact("Host", `${String(n.facts.os ?? "?")} ${String(n.facts.arch ?? "")} ${String(n.facts.hostname ?? "")}`),
        ),
      ),
      section(
        "Capabilities",
        h(
          "div",
          { "data-testid": "node-capabilities" },
          Object.entries(n.capabilities).map(([k, v]) => badge(v ? "active" : "disabled", k)),
        ),
      ),
      section(
        "Roles",
        table(
          [
            { title: "Role", cell: (r) => h("code", {}, r.role) },
            { title: "Organization", cell: (r) => orgName(r.organization_id) },
            { title: "Egress pool", cell: (r) => String(r.policy.egress_pool ?? "—") },
            { title: "Assigned", cell: (r) => when(r.assigned_at) },
            {
              title: "",
              cell: (r) =>
                h(
                  "button",
                  {
                    type: "button",
                    "data-testid": `remove-role-${r.role}`,
                    onclick: () =>
                      attempt(out, async () => {
                        await api.del(`${base}/roles/${r.id}`);
                        await load();
                      }),
                  },
                  "Remove",
                ),
            },
          ],
          n.roles,
          { testid: "node-roles", empty: "No roles: this node runs no workloads." },
        ),
      ),
      meshSection(clusterId, snapshot ? snapshotMesh(snapshot.jws) : null, hb !== null),
      section(
        "Services",
        table(
          [
            { title: "Service", cell: (s) => h("code", {}, s.service_type) },
            { title: "Desired", cell: (s) => badge(s.desired_state === "running" ? "active" : "disabled", s.desired_state) },
            { title: "Reported", cell: (s) => badge(s.reported_state) },
            { title: "Version", cell: (s) => s.version ?? "—" },
            { title: "Last report", cell: (s) => ago(s.last_heartbeat_at) },
          ],
          n.services,
          { testid: "node-services", empty: "No services." },
        ),
      ),
      section("Audit timeline", auditTable(audit.items), h("p", {}, link(href("/audit", { target_id: nodeId }), "Full audit for this node"))),
    );
  };
  await load();

  const assign = h(
    "form",
    {
      class: "inline",
      "data-testid": "assign-role",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void attempt(out, async () => {
          const v = formValues(assign);
          await api.post(`${base}/roles`, {
            role: v.role,
            ...(v.organization_id ? { organization_id: v.organization_id } : {}),
            ...(v.egress_pool ? { policy: { egress_pool: v.egress_pool } } : {}),
          });
          assign.reset();
          await load();
        });
      },
    },
    field(
      "Role",
      h(
        "select",
        { name: "role", "data-testid": "role-select" },
        ROLES.map((r) => h("option", { value: r }, `${r} (needs ${ROLE_REQUIRES[r]})`)),
      ),
    ),
    field(
      "Restrict to organization",
      h(
        "select",
        { name: "organization_id", "data-testid": "role-org" },
        h("option", { value: "" }, "all organizations"),
        orgs.map((o) => h("option", { value: o.id }, o.name)),
      ),
    ),
    field("Egress pool", h("input", { name: "egress_pool", placeholder: "optional" })),
    h("button", { type: "submit", class: "primary", "data-testid": "assign-role-submit" }, "Assign role"),
  );

  const lifecycle = (label: string, path: string, needsReason = false) =>
    h(
      "button",
      {
        type: "button",
        "data-testid": `node-${path}`,
        onclick: () =>
          attempt(out, async () => {
            const reason = needsReason
              ? await prompt({ title: `${label} node`, text: "The reason is kept in the audit trail.", label: "Reason", name: "reason", submit: label })
              : null;
            if (needsReason && !reason) return;
            await api.post(`${base}/${path}`, needsReason ? { reason } : undefined);
            await load();
          }),
      },
      label,
    );

  return {
    el: h(
      "div",
      {},
      h("p", {}, link(href("/nodes", { cluster: clusterId }), "← Nodes")),
      body,
      section("Assign a role", assign),
      section(
        "Lifecycle",
        h(
          "div",
          { class: "actions" },
          lifecycle("Drain", "drain"),
          lifecycle("Activate", "activate"),
          lifecycle("Disable", "disable", true),
          lifecycle("Enable", "enable"),
          lifecycle("Revoke", "revoke", true),
        ),
      ),
      out,
    ),
    refresh: load,
  };
}

/**
 * What the agent's heartbeats say about renewing its certificate (at 2/3 of
 * its lifetime, see docs/agent.md): failing attempts and the last error, and
 * whether it expired before one succeeded.
 */
function renewal(t: Record<string, unknown>, expired: boolean) {
  const failures = typeof t.certificate_renewal_failures === "number" ? t.certificate_renewal_failures : null;
  if (failures === null) return "not reported by the agent";
  if (failures === 0) return expired ? badge("expired", "expired: the agent has not renewed it") : "automatic (at 2/3 of the lifetime)";
  const error = typeof t.certificate_renewal_error === "string" ? t.certificate_renewal_error : "";
  return h(
    "span",
    {},
    badge(
      t.certificate_expired === true || expired ? "expired" : "failed",
      t.certificate_expired === true || expired ? `expired, renewal failing (${failures} attempts)` : `failing (${failures} attempts)`,
    ),
    error ? ` ${error}` : "",
    t.certificate_expired === true || expired ? " — its mesh channels fail until it renews; the agent keeps trying" : " — the agent keeps trying with backoff",
  );
}
