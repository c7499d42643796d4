/** Audit: the platform trail, newest first, filtered by action, actor, target, outcome and time, paged with the `before` cursor. */
import { api, type Page } from "../../lib/api.ts";
import { badge, field, h, table } from "../../lib/dom.ts";
import { when } from "../../lib/format.ts";
import { pager } from "../../lib/pager.ts";
import { href, type PageView } from "../../lib/router.ts";

export interface AuditEvent {
  id: string;
  at: string;
  actor: { type: string; id: string | null };
  organization_id: string | null;
  action: string;
  target: { type: string | null; id: string | null };
  outcome: string;
  reason: string | null;
  trace_id: string | null;
  details: Record<string, unknown>;
}

export function auditTable(items: AuditEvent[], testid = "audit"): HTMLElement {
  return table(
    [
      { title: "When", cell: (e) => when(e.at) },
      { title: "Action", cell: (e) => h("code", {}, e.action) },
      { title: "Outcome", cell: (e) => badge(e.outcome) },
      { title: "Actor", cell: (e) => `${e.actor.type}${e.actor.id ? ` ${e.actor.id.slice(0, 8)}` : ""}` },
      { title: "Target", cell: (e) => (e.target.type ? `${e.target.type} ${e.target.id?.slice(0, 8) ?? ""}` : "—") },
      {
        title: "Details",
        cell: (e) =>
          h(
            "code",
            { class: "small" },
            [e.reason, Object.keys(e.details ?? {}).length ? JSON.stringify(e.details) : null].filter(Boolean).join(" ").slice(0, 160),
          ),
      },
    ],
    items,
    { testid, rowId: (e) => e.id, empty: "No audit events match." },
  );
}

const FILTERS = ["action", "actor_id", "target_id", "outcome", "since", "until"] as const;

export async function auditPage(_: Record<string, string>, query: URLSearchParams): Promise<PageView> {
  const filter: Record<string, string | undefined> = {};
  for (const k of FILTERS) filter[k] = query.get(k) ?? undefined;
  const list = pager<AuditEvent>(
    (before) => api.get<Page<AuditEvent>>("/audit", { ...filter, before, limit: "50" }),
    (items) => auditTable(items),
    "audit-pager",
  );
  await list.reload();
  const form = h(
    "form",
    {
      class: "inline",
      "data-testid": "audit-filter",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const q: Record<string, string | undefined> = {};
        for (const [k, v] of new FormData(form).entries()) if (typeof v === "string" && v.trim()) q[k] = v.trim();
        location.hash = href("/audit", q);
      },
    },
    field("Action", h("input", { name: "action", value: filter.action ?? "", placeholder: "node.role_assigned", "data-testid": "audit-action" })),
    field("Actor id", h("input", { name: "actor_id", value: filter.actor_id ?? "" })),
    field("Target id", h("input", { name: "target_id", value: filter.target_id ?? "" })),
    field(
      "Outcome",
      h(
        "select",
        { name: "outcome" },
        ["", "success", "denied", "failure"].map((o) => h("option", { value: o, selected: o === (filter.outcome ?? "") }, o || "any")),
      ),
    ),
    field("Since (ISO)", h("input", { name: "since", value: filter.since ?? "", placeholder: "2026-01-01T00:00:00Z" })),
    field("Until (ISO)", h("input", { name: "until", value: filter.until ?? "" })),
    h("button", { type: "submit", class: "primary", "data-testid": "audit-apply" }, "Filter"),
  );
  return { el: h("div", {}, h("h1", {}, "Audit"), form, list.el) };
}
