/**
 * The organization admin panel at /org/: a tenant-safe view of one
 * organization: its resources and their policies, users and memberships,
 * members' sessions, the entry and egress names it may use, its identity
 * sources (single sign-on), and its audit.
 * It reads only organization endpoints of /api/v1, which never carry nodes,
 * routes, peers, other organizations or trust material.
 */
import { COLOR_MODES, QUALITY_PROFILES, TRANSFER_MODES } from "../../core/contracts/data-plane-token.ts";
import { api, setSignedOutHandler, signedIn, type Page } from "../lib/api.ts";
import { accountPage, type Me } from "../lib/account.ts";
import { badge, field, formValues, h, mount, section, table } from "../lib/dom.ts";
import { attempt } from "../lib/errors.ts";
import { ago, when } from "../lib/format.ts";
import { pager } from "../lib/pager.ts";
import { startRouter, type PageView, type Route } from "../lib/router.ts";
import { showSignIn } from "../lib/sign-in.ts";
import { installStepUp } from "../lib/step-up.ts";
import { identitySourcesPage } from "./identity-sources.ts";
import { vpnStatusPage } from "./vpn.ts";

interface Org {
  id: string;
  name: string;
  slug: string;
  status: string;
}
interface Resource {
  id: string;
  name: string;
  protocol: string;
  target_host: string;
  target_port: number;
  egress_pool: string | null;
  certificate_verification_mode: string;
  clipboard_mode: string;
  file_transfer_mode: string;
  quality_profile: string;
  color_mode: string | null;
  secret_ref: string | null;
  updated_at: string;
}
interface Member {
  user_id: string;
  email: string;
  display_name: string;
  role: string;
  status: string;
  created_at: string;
}
interface AuditEvent {
  id: string;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string | null; id: string | null };
  outcome: string;
  reason: string | null;
}

const root = document.getElementById("app")!;
let org: Org;

async function resourcesPage(): Promise<PageView> {
  const out = h("div");
  const list = pager<Resource>(
    (after) => api.get<Page<Resource>>("/resources", { organization_id: org.id, after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Name", cell: (r) => h("strong", {}, r.name) },
          { title: "Protocol", cell: (r) => r.protocol.toUpperCase() },
          { title: "Target", cell: (r) => `${r.target_host}:${r.target_port}` },
          { title: "Egress pool", cell: (r) => r.egress_pool ?? "—" },
          { title: "Clipboard", cell: (r) => r.clipboard_mode },
          { title: "File transfer", cell: (r) => r.file_transfer_mode },
          { title: "Desktop quality", cell: (r) => (r.protocol === "ssh" ? "" : `${r.quality_profile}${r.color_mode ? ` · ${r.color_mode}` : ""}`) },
          {
            title: "Certificate check",
            cell: (r) => badge(r.certificate_verification_mode === "strict" ? "active" : "warning", r.certificate_verification_mode),
          },
          { title: "Credentials", cell: (r) => (r.secret_ref ? badge("active", "stored sealed") : badge("warning", "none")) },
        ],
        items,
        { testid: "org-resources", rowId: (r) => r.id, empty: "No resources yet." },
      ),
    "resources-pager",
  );
  await list.reload();
  const MODES = TRANSFER_MODES;
  const form = h(
    "form",
    {
      class: "inline",
      "data-testid": "new-resource",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void attempt(out, async () => {
          const v = formValues(form);
          await api.post("/resources", {
            organization_id: org.id,
            name: v.name,
            protocol: v.protocol,
            target_host: v.target_host,
            target_port: Number(v.target_port),
            clipboard_mode: v.clipboard_mode,
            file_transfer_mode: v.file_transfer_mode,
            quality_profile: v.quality_profile,
            color_mode: v.color_mode || null,
            quality_adjustable: v.quality_adjustable === "yes",
            certificate_verification_mode: v.certificate_verification_mode,
            ...(v.host_key_fingerprint ? { host_key_fingerprint: v.host_key_fingerprint.trim() } : {}),
            ...(v.egress_pool ? { egress_pool: v.egress_pool } : {}),
          });
          form.reset();
          await list.reload();
        });
      },
    },
    field("Name", h("input", { name: "name", required: true })),
    field(
      "Protocol",
      h(
        "select",
        { name: "protocol" },
        ["rdp", "vnc", "ssh"].map((p) => h("option", { value: p }, p)),
      ),
    ),
    field("Target host", h("input", { name: "target_host", required: true })),
    field("Port", h("input", { name: "target_port", type: "number", min: 1, max: 65535, value: 3389, required: true })),
    field("Egress pool", h("input", { name: "egress_pool" })),
    field(
      "Verification",
      h(
        "select",
        { name: "certificate_verification_mode" },
        ["strict", "ignore"].map((m) => h("option", { value: m }, m)),
      ),
    ),
    field(
      "Pinned server key or certificate (SHA-256)",
      h("input", {
        name: "host_key_fingerprint",
        placeholder: "from ssh-keygen -l or openssl x509 -fingerprint -sha256",
        autocomplete: "off",
        spellcheck: false,
      }),
    ),
    field(
      "Clipboard",
      h(
        "select",
        { name: "clipboard_mode" },
        MODES.map((m) => h("option", { value: m }, m)),
      ),
    ),
    field(
      "File transfer",
      h(
        "select",
        { name: "file_transfer_mode" },
        MODES.map((m) => h("option", { value: m }, m)),
      ),
    ),
    field(
      "Desktop quality",
      h(
        "select",
        { name: "quality_profile" },
        QUALITY_PROFILES.map((p) => h("option", { value: p, ...(p === "balanced" ? { selected: true } : {}) }, p)),
      ),
    ),
    field(
      "Colours",
      h("select", { name: "color_mode" }, [h("option", { value: "" }, "the profile's"), ...COLOR_MODES.map((m) => h("option", { value: m }, m))]),
    ),
    field(
      "Users may change quality",
      h(
        "select",
        { name: "quality_adjustable" },
        ["yes", "no"].map((m) => h("option", { value: m }, m)),
      ),
    ),
    h("button", { type: "submit", class: "primary" }, "Add resource"),
  );
  return { el: h("div", {}, h("h1", {}, "Resources and policies"), list.el, section("New resource", form, out)), refresh: list.reload };
}

async function membersPage(): Promise<PageView> {
  const list = pager<Member>(
    (after) => api.get<Page<Member>>(`/organizations/${org.id}/members`, { after, limit: "50" }),
    (items) =>
      table(
        [
          { title: "Email", cell: (m) => m.email },
          { title: "Name", cell: (m) => m.display_name },
          { title: "Role", cell: (m) => h("code", {}, m.role) },
          { title: "Status", cell: (m) => badge(m.status) },
          { title: "Member since", cell: (m) => when(m.created_at) },
        ],
        items,
        { testid: "org-members", rowId: (m) => m.user_id },
      ),
    "members-pager",
  );
  await list.reload();
  return { el: h("div", {}, h("h1", {}, "Users and memberships"), list.el), refresh: list.reload };
}

async function sessionsPage(): Promise<PageView> {
  const body = h("div");
  const load = async () => {
    const s = await api.get<{ items: { id: string; email: string; created_at: string; last_seen_at: string; expires_at: string; mfa_verified: boolean }[] }>(
      `/organizations/${org.id}/sessions`,
    );
    mount(
      body,
      table(
        [
          { title: "User", cell: (x) => x.email },
          { title: "Signed in", cell: (x) => when(x.created_at) },
          { title: "Last seen", cell: (x) => ago(x.last_seen_at) },
          { title: "Expires", cell: (x) => when(x.expires_at) },
          { title: "Second factor", cell: (x) => (x.mfa_verified ? badge("active", "verified") : badge("plain", "not this session")) },
        ],
        s.items,
        { testid: "org-sessions", empty: "No active sessions." },
      ),
    );
  };
  await load();
  return { el: h("div", {}, h("h1", {}, "Active sessions"), body), refresh: load };
}

async function endpointsPage(): Promise<PageView> {
  const body = h("div");
  const load = async () => {
    const e = await api.get<{ entry: { name: string; region: string | null; available: boolean }[]; egress: string[] }>(`/organizations/${org.id}/endpoints`);
    mount(
      body,
      section(
        "Entry points",
        table(
          [
            { title: "Entry", cell: (x) => x.name },
            { title: "Region", cell: (x) => x.region ?? "—" },
            { title: "Status", cell: (x) => badge(x.available ? "available" : "unavailable") },
          ],
          e.entry,
          { testid: "org-entry", empty: "No entry point serves this organization yet." },
        ),
      ),
      section(
        "Egress and service endpoints",
        table([{ title: "Egress pool", cell: (x: string) => x }], e.egress, { testid: "org-egress", empty: "No egress pools named yet." }),
      ),
    );
  };
  await load();
  return { el: h("div", {}, h("h1", {}, "Allowed endpoints"), body), refresh: load };
}

async function auditPage(): Promise<PageView> {
  const list = pager<AuditEvent>(
    (before) => api.get<Page<AuditEvent>>(`/organizations/${org.id}/audit`, { before, limit: "50" }),
    (items) =>
      table(
        [
          { title: "When", cell: (e) => when(e.at) },
          { title: "Action", cell: (e) => h("code", {}, e.action) },
          { title: "Outcome", cell: (e) => badge(e.outcome) },
          { title: "Actor", cell: (e) => `${e.actor.type} ${e.actor.id?.slice(0, 8) ?? ""}` },
          { title: "Target", cell: (e) => (e.target.type ? `${e.target.type} ${e.target.id?.slice(0, 8) ?? ""}` : "—") },
          { title: "Reason", cell: (e) => e.reason ?? "" },
        ],
        items,
        { testid: "org-audit", rowId: (e) => e.id },
      ),
    "audit-pager",
  );
  await list.reload();
  return { el: h("div", {}, h("h1", {}, "Audit"), list.el) };
}

const NAV: [string, string][] = [
  ["/resources", "Resources"],
  ["/members", "Users"],
  ["/sessions", "Sessions"],
  ["/endpoints", "Endpoints"],
  ["/vpn", "VPN connections"],
  ["/identity", "Identity sources"],
  ["/audit", "Audit"],
  ["/account", "Account"],
];
const ROUTES: Record<string, Route> = {
  "/resources": resourcesPage,
  "/members": membersPage,
  "/sessions": sessionsPage,
  "/endpoints": endpointsPage,
  "/vpn": () => vpnStatusPage(org.id),
  "/identity": () => identitySourcesPage(org.id),
  "/audit": auditPage,
  "/account": accountPage,
};

async function shell(): Promise<void> {
  const me = await api.get<Me>("/me");
  const orgs = (await api.get<Page<Org>>("/organizations", { limit: "200" })).items;
  const mine = orgs.filter((o) => me.memberships.some((m) => m.organization_id === o.id));
  const choices = mine.length ? mine : orgs;
  const chosen = choices.find((o) => o.id === sessionStorage.getItem("rap.org")) ?? choices[0];
  if (!chosen) {
    mount(root, h("div", { class: "notice" }, "Your account is not a member of any organization."));
    return;
  }
  org = chosen;
  const role = me.memberships.find((m) => m.organization_id === org.id)?.role ?? me.platform_roles[0] ?? "";
  const nav = h(
    "nav",
    { "data-testid": "nav" },
    NAV.map(([path, label]) => h("a", { href: `#${path}`, "data-path": path }, label)),
  );
  const outlet = h("div", { class: "content", "data-testid": "page" });
  mount(
    root,
    h(
      "header",
      {},
      h("div", { class: "brand" }, "Organization admin · ", h("span", { "data-testid": "org-name" }, org.name)),
      choices.length > 1
        ? h(
            "select",
            {
              "data-testid": "org-picker",
              onchange: (e: Event) => {
                sessionStorage.setItem("rap.org", (e.target as HTMLSelectElement).value);
                location.reload();
              },
            },
            choices.map((o) => h("option", { value: o.id, selected: o.id === org.id }, o.name)),
          )
        : null,
      h("div", { class: "who", "data-testid": "who" }, `${me.email} · ${role}`),
    ),
    h("div", { class: "layout" }, nav, h("div", { class: "main" }, outlet)),
  );
  startRouter(outlet, ROUTES, "/resources", (path) => {
    for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", path.startsWith(a.dataset.path ?? "-"));
  });
}

installStepUp();
setSignedOutHandler(() => location.reload());
if (signedIn()) void shell();
else void showSignIn(root, "Organization admin", () => void shell());
