/**
 * The organization panel's identity sources page: each OIDC or LDAP source
 * with its mapped groups and last sync result, "Test connection" and (LDAP)
 * "Sync now", a form to add a source, a mappings editor (one `group = role`
 * a line) and the require-SSO switch. Every change goes through the same
 * API as any client (step-up prompted by lib/api.ts); secrets are
 * write-only fields and are never shown.
 */
import { api } from "../lib/api.ts";
import { badge, field, formValues, h, mount, section, table } from "../lib/dom.ts";
import { attempt } from "../lib/errors.ts";
import { when } from "../lib/format.ts";
import type { PageView } from "../lib/router.ts";

interface Source {
  id: string;
  kind: "local" | "oidc" | "ldap";
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
  has_secret: boolean;
  mappings: { group: string; role: string }[];
  last_sync: { at: string; outcome: string; details: Record<string, unknown> } | null;
}

const EXAMPLES: Record<string, string> = {
  oidc: JSON.stringify(
    { issuer: "https://idp.example.com", client_id: "rap", redirect_uri: `${location.origin}/api/v1/auth/sso/oidc/callback`, groups_claim: "groups" },
    null,
    2,
  ),
  ldap: JSON.stringify(
    {
      url: "ldaps://ldap.example.com:636",
      security: "ldaps",
      bind_dn: "cn=reader,dc=example,dc=com",
      user_base_dn: "ou=people,dc=example,dc=com",
      group_base_dn: "ou=groups,dc=example,dc=com",
    },
    null,
    2,
  ),
};

export async function identitySourcesPage(orgId: string): Promise<PageView> {
  const body = h("div");
  const out = h("div", { "data-testid": "identity-source-result" });
  const load = async () => {
    const r = await api.get<{ items: Source[]; require_sso: boolean }>(`/organizations/${orgId}/identity-sources`);
    mount(body, policy(orgId, r.require_sso, load, out), sourcesTable(orgId, r.items, load, out), out, addForm(orgId, load, out));
  };
  await load();
  return { el: h("div", {}, h("h1", {}, "Identity sources"), body), refresh: load };
}

function policy(orgId: string, required: boolean, reload: () => Promise<void>, out: HTMLElement): HTMLElement {
  return h(
    "label",
    { class: "field inline" },
    h("input", {
      type: "checkbox",
      checked: required,
      "data-testid": "require-sso",
      onchange: (e: Event) =>
        attempt(out, async () => {
          await api.put(`/organizations/${orgId}/sso-policy`, { require_sso: (e.target as HTMLInputElement).checked });
          await reload();
        }),
    }),
    h("span", {}, " Require single sign-on (members cannot use a password; owners keep theirs for break-glass)"),
  );
}

function sourcesTable(orgId: string, items: Source[], reload: () => Promise<void>, out: HTMLElement): HTMLElement {
  const base = (s: Source) => `/organizations/${orgId}/identity-sources/${s.id}`;
  const show = (label: string, value: unknown) =>
    mount(out, h("pre", { "data-testid": "identity-source-output" }, `${label}\n${JSON.stringify(value, null, 2)}`));
  return table(
    [
      { title: "Name", cell: (s) => s.name },
      { title: "Kind", cell: (s) => h("code", {}, s.kind) },
      { title: "State", cell: (s) => badge(s.enabled ? "active" : "disabled") },
      { title: "Mapped groups", cell: (s) => (s.mappings.length ? s.mappings.map((m) => `${m.group} → ${m.role}`).join("; ") : "—") },
      {
        title: "Last sync",
        cell: (s) => (s.last_sync ? h("span", {}, badge(s.last_sync.outcome), ` ${when(s.last_sync.at)} · ${syncSummary(s.last_sync.details)}`) : "—"),
      },
      {
        title: "",
        cell: (s) =>
          h(
            "div",
            { class: "actions" },
            s.kind === "local"
              ? null
              : h(
                  "button",
                  { "data-testid": `test-${s.id}`, onclick: () => attempt(out, async () => show("Test connection", await api.post(`${base(s)}/test`))) },
                  "Test connection",
                ),
            s.kind === "ldap"
              ? h(
                  "button",
                  {
                    "data-testid": `sync-${s.id}`,
                    onclick: () =>
                      attempt(out, async () => {
                        show("Sync", await api.post(`${base(s)}/sync`));
                        await reload();
                      }),
                  },
                  "Sync now",
                )
              : null,
            h(
              "button",
              {
                "data-testid": `toggle-${s.id}`,
                onclick: () =>
                  attempt(out, async () => {
                    await api.patch(base(s), { enabled: !s.enabled });
                    await reload();
                  }),
              },
              s.enabled ? "Disable" : "Enable",
            ),
            h("button", { "data-testid": `mappings-${s.id}`, onclick: () => mount(out, mappingsForm(base(s), s, reload, out)) }, "Mappings"),
          ),
      },
    ],
    items,
    { testid: "identity-sources", rowId: (s) => s.id, empty: "No identity source yet: members sign in with their password." },
  );
}

/** What the last sync did (docs/identity.md: people, created, updated, suspended, refused, or the error). */
function syncSummary(d: Record<string, unknown>): string {
  if (typeof d.error === "string") return d.error;
  return ["people", "created", "updated", "suspended", "refused"].map((k) => `${Number(d[k] ?? 0)} ${k}`).join(", ");
}

function mappingsForm(path: string, s: Source, reload: () => Promise<void>, out: HTMLElement): HTMLElement {
  const form = h(
    "form",
    {
      "data-testid": "mappings-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const lines = (formValues(form).mappings ?? "")
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean);
        const mappings = lines.map((l) => {
          const at = l.lastIndexOf("=");
          return { group: l.slice(0, at).trim(), role: l.slice(at + 1).trim() };
        });
        return attempt(out, async () => {
          await api.put(`${path}/mappings`, { mappings });
          await reload();
        });
      },
    },
    section(
      `Mappings of ${s.name}`,
      field(
        "One `group = role` a line (roles: org_owner, org_admin, org_operator, org_member, org_viewer)",
        h("textarea", { name: "mappings", rows: 6 }, s.mappings.map((m) => `${m.group} = ${m.role}`).join("\n")),
      ),
      h("button", { type: "submit", class: "primary" }, "Save mappings"),
    ),
  );
  return form;
}

function addForm(orgId: string, reload: () => Promise<void>, out: HTMLElement): HTMLElement {
  const config = h("textarea", { name: "config", rows: 8 }, EXAMPLES.oidc!);
  const form = h(
    "form",
    {
      "data-testid": "add-identity-source",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const v = formValues(form);
        return attempt(out, async () => {
          const secret = v.kind === "oidc" ? { client_secret: v.secret } : { bind_password: v.secret };
          await api.post(`/organizations/${orgId}/identity-sources`, { kind: v.kind, name: v.name, config: JSON.parse(v.config ?? "{}"), ...secret });
          form.reset();
          await reload();
        });
      },
    },
    section(
      "Add an identity source",
      field(
        "Kind",
        h(
          "select",
          { name: "kind", onchange: (e: Event) => (config.value = EXAMPLES[(e.target as HTMLSelectElement).value] ?? "{}") },
          h("option", { value: "oidc" }, "OpenID Connect"),
          h("option", { value: "ldap" }, "LDAP"),
        ),
      ),
      field("Name (shown as Sign in with …)", h("input", { name: "name", required: true })),
      field("Settings (JSON; see docs/identity.md)", config),
      field("Client secret or bind password", h("input", { name: "secret", type: "password", required: true, autocomplete: "off" })),
      h("button", { type: "submit", class: "primary" }, "Add source"),
    ),
  );
  return form;
}
