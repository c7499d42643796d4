/**
 * Join requests and join tokens of one cluster. Create a token (shown once,
 * with the exact `rap-node-agent enroll` command to run on the new host),
 * revoke tokens, and review requests: the facts the host reported, the roles
 * it asks for against the capabilities it reports, approve or reject. Live.
 */
import { api, type Page } from "../../lib/api.ts";
import { badge, field, formValues, h, mount, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { prompt } from "../../lib/dialog.ts";
import { ago, when } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";
import { clusterPicker, currentCluster, noClusters } from "../clusters.ts";
import { ROLE_REQUIRES, ROLES } from "../roles.ts";

interface JoinRequest {
  id: string;
  node_name: string;
  node_fingerprint: string;
  status: string;
  reported_facts: Record<string, unknown>;
  reported_capabilities: Record<string, boolean>;
  requested_roles: string[];
  reviewed_by_user_id: string | null;
  reviewed_at: string | null;
  approved_node_id: string | null;
  rejection_reason: string | null;
  source_ip: string | null;
  created_at: string;
}
interface JoinToken {
  id: string;
  prefix: string;
  requested_roles: string[];
  expires_at: string;
  max_uses: number;
  used_count: number;
  created_at: string;
  revoked_at: string | null;
}
interface IssuedToken {
  id: string;
  token: string;
  expires_at: string;
  max_uses: number;
  authority_fingerprint: string;
  agent_command: string;
}

/** Each requested role against the capability it needs: what the reviewer compares before approving. */
function capabilityCheck(r: JoinRequest): HTMLElement {
  const caps = Object.entries(r.reported_capabilities)
    .filter(([, v]) => v)
    .map(([k]) => k);
  return h(
    "div",
    { class: "compare" },
    r.requested_roles.length
      ? r.requested_roles.map((role) => {
          const need = ROLE_REQUIRES[role] ?? "?";
          const ok = r.reported_capabilities[need] === true;
          return h("div", {}, badge(ok ? "active" : "failed", `${role} ${ok ? "✓" : "✗"} ${need}`));
        })
      : h("div", { class: "muted" }, "no roles requested"),
    h("div", { class: "muted small" }, `reports: ${caps.join(", ") || "nothing"}`),
  );
}

export async function joinRequestsPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const { cluster, clusters } = await currentCluster(query);
  if (!cluster) return { el: h("div", {}, h("h1", {}, "Join requests"), noClusters()) };
  const base = `/clusters/${cluster.id}`;
  const status = query.get("status") ?? "pending";
  const out = h("div", { "data-testid": "join-result" });
  const issued = h("div", { "data-testid": "issued-token" });

  const requests = pager<JoinRequest>(
    (after) => api.get<Page<JoinRequest>>(`${base}/join-requests`, { status: status === "all" ? undefined : status, after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Node", cell: (r) => h("strong", {}, r.node_name) },
          { title: "Status", cell: (r) => badge(r.status) },
          {
            title: "Facts",
            cell: (r) =>
              h(
                "code",
                { class: "small" },
                Object.entries(r.reported_facts)
                  .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
                  .join(" "),
              ),
          },
          { title: "Requested roles vs capabilities", cell: capabilityCheck },
          { title: "Key fingerprint", cell: (r) => h("code", { class: "small" }, r.node_fingerprint) },
          { title: "From", cell: (r) => r.source_ip ?? "—" },
          { title: "Asked", cell: (r) => ago(r.created_at) },
          {
            title: "",
            cell: (r) =>
              r.status === "pending"
                ? h(
                    "div",
                    { class: "actions" },
                    h(
                      "button",
                      {
                        type: "button",
                        class: "primary",
                        "data-testid": `approve-${r.node_name}`,
                        onclick: () =>
                          attempt(out, async () => {
                            const a = await api.post<{ node_id: string; certificate_serial: string }>(`${base}/join-requests/${r.id}/approve`, {});
                            mount(
                              out,
                              h(
                                "p",
                                { class: "notice ok", "data-testid": "approved" },
                                `Approved ${r.node_name}: node `,
                                h("a", { href: `#/nodes/${cluster.id}/${a.node_id}` }, a.node_id),
                                `, certificate ${a.certificate_serial}.`,
                              ),
                            );
                            await requests.reload();
                          }),
                      },
                      "Approve",
                    ),
                    h(
                      "button",
                      {
                        type: "button",
                        "data-testid": `reject-${r.node_name}`,
                        onclick: () =>
                          attempt(out, async () => {
                            const reason = await prompt({
                              title: `Reject ${r.node_name}`,
                              text: "The agent sees that it was rejected; the reason is kept in the audit trail.",
                              label: "Reason",
                              name: "reason",
                              submit: "Reject",
                            });
                            if (!reason) return;
                            await api.post(`${base}/join-requests/${r.id}/reject`, { reason });
                            await requests.reload();
                          }),
                      },
                      "Reject",
                    ),
                  )
                : r.approved_node_id
                  ? h("a", { href: `#/nodes/${cluster.id}/${r.approved_node_id}` }, "node")
                  : (r.rejection_reason ?? ""),
          },
        ],
        items,
        { testid: "join-requests", rowId: (r) => r.id, empty: status === "pending" ? "No pending join requests." : "None." },
      ),
    "requests-pager",
  );

  const tokens = h("div");
  const loadTokens = async () => {
    const list = (await api.get<{ items: JoinToken[] }>(`${base}/join-tokens`)).items;
    mount(
      tokens,
      table(
        [
          { title: "Prefix", cell: (t) => h("code", {}, t.prefix) },
          { title: "Roles", cell: (t) => t.requested_roles.join(", ") || "—" },
          { title: "Uses", cell: (t) => `${t.used_count} / ${t.max_uses}` },
          { title: "Expires", cell: (t) => `${when(t.expires_at)}` },
          {
            title: "State",
            cell: (t) =>
              t.revoked_at
                ? badge("revoked")
                : new Date(t.expires_at) < new Date()
                  ? badge("expired")
                  : t.used_count >= t.max_uses
                    ? badge("disabled", "used up")
                    : badge("active"),
          },
          {
            title: "",
            cell: (t) =>
              t.revoked_at
                ? ""
                : h(
                    "button",
                    {
                      type: "button",
                      "data-testid": `revoke-token-${t.prefix}`,
                      onclick: () =>
                        attempt(out, async () => {
                          await api.del(`${base}/join-tokens/${t.id}`);
                          await loadTokens();
                        }),
                    },
                    "Revoke",
                  ),
          },
        ],
        list,
        { testid: "join-tokens", empty: "No join tokens." },
      ),
    );
  };

  const tokenForm = h(
    "form",
    {
      class: "inline",
      "data-testid": "new-token",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void attempt(out, async () => {
          const v = formValues(tokenForm);
          const roles = [...tokenForm.querySelectorAll<HTMLInputElement>("input[name=role]:checked")].map((i) => i.value);
          const t = await api.post<IssuedToken>(`${base}/join-tokens`, {
            ttl_seconds: Number(v.ttl_minutes ?? "60") * 60,
            max_uses: Number(v.max_uses ?? "1"),
            requested_roles: roles,
          });
          mount(
            issued,
            h(
              "div",
              { class: "notice ok" },
              h(
                "p",
                {},
                h("strong", {}, "Join token created. It is shown only this once: copy the command now."),
                ` Expires ${when(t.expires_at)}, ${t.max_uses} use(s).`,
              ),
              h("p", {}, "Run on the new host:"),
              h("pre", { "data-testid": "agent-command" }, t.agent_command),
              h(
                "p",
                { class: "muted small" },
                "Authority fingerprint the agent pins: ",
                h("code", { "data-testid": "token-authority-fingerprint" }, t.authority_fingerprint),
              ),
            ),
          );
          await loadTokens();
        });
      },
    },
    field("Valid for (minutes)", h("input", { name: "ttl_minutes", type: "number", min: 1, max: 10080, value: 60 })),
    field("Uses", h("input", { name: "max_uses", type: "number", min: 1, max: 1000, value: 1 })),
    h(
      "fieldset",
      {},
      h("legend", {}, "Requested roles"),
      ROLES.map((r) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "role", value: r }), r)),
    ),
    h("button", { type: "submit", class: "primary", "data-testid": "create-token" }, "Create join token"),
  );

  await Promise.all([requests.reload(), loadTokens()]);
  const statusChip = (s: string) =>
    h("a", { href: href("/join-requests", { cluster: cluster.id, status: s }), class: `chip ${s === status ? "active" : ""}` }, s);
  return {
    el: h(
      "div",
      {},
      h("h1", {}, "Join requests"),
      h(
        "div",
        { class: "toolbar" },
        clusterPicker("/join-requests", cluster, clusters, query),
        h("span", { class: "chips" }, ["pending", "approved", "rejected", "expired", "all"].map(statusChip)),
      ),
      out,
      section("Requests", requests.el),
      section("New join token", tokenForm, issued),
      section("Join tokens", tokens),
    ),
    refresh: async () => {
      await requests.reload();
      await loadTokens();
    },
  };
}
