/**
 * The platform owner console: sign-in (with MFA and first-owner bootstrap),
 * then a shell with the navigation and one page per hash route. Served at
 * /console/ by http/console/routes.ts; talks to /api/v1 only.
 */
import { api, setSignedOutHandler, signedIn } from "../lib/api.ts";
import { h, mount } from "../lib/dom.ts";
import { startRouter, type Route } from "../lib/router.ts";
import { showSignIn } from "../lib/sign-in.ts";
import { installStepUp } from "../lib/step-up.ts";
import { accountPage, type Me } from "../lib/account.ts";
import { overviewPage } from "./pages/overview.ts";
import { clusterPage, clustersPage } from "./pages/clusters.ts";
import { nodesPage } from "./pages/nodes.ts";
import { nodeDetailPage } from "./pages/node-detail.ts";
import { joinRequestsPage } from "./pages/join-requests.ts";
import { rolesPage } from "./pages/roles.ts";
import { workloadsPage } from "./pages/workloads.ts";
import { vpnPage } from "./pages/vpn.ts";
import { healthPage } from "./pages/health.ts";
import { auditPage } from "./pages/audit.ts";
import { trustPage } from "./pages/trust.ts";
import { updatesPage } from "./pages/updates.ts";

const NAV: [string, string][] = [
  ["/overview", "Overview"],
  ["/clusters", "Clusters"],
  ["/nodes", "Nodes"],
  ["/join-requests", "Join requests"],
  ["/roles", "Role assignments"],
  ["/workloads", "Service workloads"],
  ["/vpn", "VPN connections"],
  ["/health", "Health and alerts"],
  ["/audit", "Audit"],
  ["/trust", "Trust and certificates"],
  ["/updates", "Releases and rollouts"],
  ["/account", "Account"],
];

const ROUTES: Record<string, Route> = {
  "/overview": overviewPage,
  "/clusters": clustersPage,
  "/clusters/:id": clusterPage,
  "/nodes": nodesPage,
  "/nodes/:cluster/:node": nodeDetailPage,
  "/join-requests": joinRequestsPage,
  "/roles": rolesPage,
  "/workloads": workloadsPage,
  "/vpn": vpnPage,
  "/health": healthPage,
  "/audit": auditPage,
  "/trust": trustPage,
  "/updates": updatesPage,
  "/account": accountPage,
};

const root = document.getElementById("app")!;

async function shell(): Promise<void> {
  const me = await api.get<Me>("/me");
  const nav = h(
    "nav",
    { "data-testid": "nav" },
    NAV.map(([path, label]) => h("a", { href: `#${path}`, "data-path": path }, label)),
  );
  const outlet = h("div", { class: "content", "data-testid": "page" });
  const banner =
    me.platform_roles.length === 0
      ? h(
          "div",
          { class: "notice", "data-testid": "not-platform" },
          "This console is for platform operators. Your account has no platform role: pages here answer 403. Your organization panel is at ",
          h("a", { href: "/org/" }, "/org/"),
          ".",
        )
      : null;
  mount(
    root,
    h(
      "header",
      {},
      h("div", { class: "brand" }, "Secure Access Fabric · Platform console"),
      h("div", { class: "who", "data-testid": "who" }, me.email, me.platform_roles.length ? ` · ${me.platform_roles.join(", ")}` : " · no platform role"),
    ),
    h("div", { class: "layout" }, nav, h("div", { class: "main" }, banner, outlet)),
  );
  startRouter(outlet, ROUTES, "/overview", (path) => {
    for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", path.startsWith(a.dataset.path ?? "-"));
  });
}

function boot(): void {
  installStepUp();
  setSignedOutHandler(() => location.reload());
  if (signedIn()) void shell();
  else void showSignIn(root, "Platform console", () => void shell());
}

boot();
