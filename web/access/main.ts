/**
 * The access portal at /access/: where end users reach resources. Sign in
 * (with MFA), choose an organization and a resource, connect, and work in a
 * terminal or on a remote desktop; "My sessions" lists the open ones to reattach (or take over from
 * another device) and terminate. Served by http/access/routes.ts under the
 * console's strict CSP; talks to /api/v1 like any client, and to entry nodes
 * only through the `Connect` of connect.ts. Nothing here names a node, an
 * address or a path: an entry point is shown by its name.
 */
import { api, setSignedOutHandler, signedIn, type Page } from "../lib/api.ts";
import { accountPage, type Me } from "../lib/account.ts";
import { h, mount } from "../lib/dom.ts";
import { startRouter, type Route } from "../lib/router.ts";
import { showSignIn } from "../lib/sign-in.ts";
import { installStepUp } from "../lib/step-up.ts";
import { connect, connectDesktop } from "./connect.ts";
import { installCspSafeStyles } from "./csp-styles.ts";
import { CONNECT_PLATFORM_ROLES, CONNECT_ROLES, type Org } from "./model.ts";
import { resourcesPage } from "./pages/resources.ts";
import { sessionsPage } from "./pages/sessions.ts";
import { terminalPage } from "./pages/terminal.ts";
import type { Connect } from "./terminal-transport.ts";

const ORG_KEY = "rap.access.org";
const root = document.getElementById("app")!;

/** Organizations the user may connect in: memberships with a connecting role, or every one for platform roles that may. */
function connectable(me: Me, orgs: Org[]): Org[] {
  if (me.platform_roles.some((r) => CONNECT_PLATFORM_ROLES.includes(r))) return orgs;
  return orgs.filter((o) => me.memberships.some((m) => m.organization_id === o.id && CONNECT_ROLES.includes(m.role)));
}

async function shell(connectFn: Connect): Promise<void> {
  const me = await api.get<Me>("/me");
  const orgs = connectable(me, (await api.get<Page<Org>>("/organizations", { limit: "200" })).items);
  const org = orgs.find((o) => o.id === sessionStorage.getItem(ORG_KEY)) ?? orgs[0];
  const header = h(
    "header",
    {},
    h("div", { class: "brand" }, "Secure Access Fabric · Access portal"),
    orgs.length > 1
      ? h(
          "select",
          {
            "data-testid": "org-picker",
            "aria-label": "Organization",
            onchange: (e: Event) => {
              sessionStorage.setItem(ORG_KEY, (e.target as HTMLSelectElement).value);
              location.hash = "#/resources";
              location.reload();
            },
          },
          orgs.map((o) => h("option", { value: o.id, selected: o.id === org?.id }, o.name)),
        )
      : org
        ? h("span", { "data-testid": "org-name" }, org.name)
        : null,
    h("div", { class: "who", "data-testid": "who" }, me.email),
  );
  // Without an organization to connect in, the account page (two-factor, sign-out) is all there is.
  const NAV: [string, string][] = org
    ? [
        ["/resources", "Resources"],
        ["/sessions", "My sessions"],
        ["/account", "Account"],
      ]
    : [["/account", "Account"]];
  const ROUTES: Record<string, Route> = org
    ? {
        "/resources": resourcesPage(org),
        "/sessions": sessionsPage(org),
        "/terminal/:id": terminalPage(connectFn, connectDesktop),
        "/account": accountPage,
      }
    : { "/account": accountPage };
  const banner = org ? null : h("div", { class: "notice", "data-testid": "no-org" }, "Your account may not connect to resources in any organization.");
  const nav = h(
    "nav",
    { "data-testid": "nav" },
    NAV.map(([path, label]) => h("a", { href: `#${path}`, "data-path": path }, label)),
  );
  const outlet = h("div", { class: "content", "data-testid": "page" });
  mount(root, header, h("div", { class: "layout" }, nav, h("div", { class: "main" }, banner, outlet)));
  startRouter(outlet, ROUTES, org ? "/resources" : "/account", (path) => {
    for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", path.startsWith(a.dataset.path ?? "-"));
  });
}

installCspSafeStyles();
installStepUp();
setSignedOutHandler(() => location.reload());
if (signedIn()) void shell(connect);
else void showSignIn(root, "Access portal", () => void shell(connect));
