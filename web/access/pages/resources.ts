/**
 * Resources (#/resources): what the user may connect to in the chosen
 * organization, by name, protocol and location (the egress pool's name),
 * never by address. Connect starts a session and opens its terminal.
 */
import { api, type Page } from "../../lib/api.ts";
import { h, section, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { pager } from "../../lib/pager.ts";
import type { PageView } from "../../lib/router.ts";
import { BROWSER_PROTOCOLS, PROTOCOL_LABELS, type Org, type Resource } from "../model.ts";
import { startSession } from "../open-session.ts";
import { transportCheckbox } from "../transport-choice.ts";

export function resourcesPage(org: Org) {
  return async (): Promise<PageView> => {
    const out = h("div", { "data-testid": "connect-result" });
    const connectButton = (r: Resource) =>
      BROWSER_PROTOCOLS.has(r.protocol)
        ? h(
            "button",
            {
              type: "button",
              class: "primary",
              "data-testid": `connect-${r.name}`,
              onclick: (e: Event) => {
                const button = e.currentTarget as HTMLButtonElement;
                button.disabled = true;
                void attempt(out, () => startSession(r.id)).finally(() => (button.disabled = false));
              },
            },
            "Connect",
          )
        : h("span", { class: "muted" }, `${r.protocol.toUpperCase()} is not available in the browser yet`);
    const list = pager<Resource>(
      (after) => api.get<Page<Resource>>("/resources", { organization_id: org.id, after, limit: "50" }),
      (items) =>
        table(
          [
            { title: "Resource", cell: (r) => h("strong", {}, r.name) },
            { title: "Kind", cell: (r) => PROTOCOL_LABELS[r.protocol] ?? r.protocol.toUpperCase() },
            { title: "Location", cell: (r) => r.egress_pool ?? "—" },
            { title: "", cell: connectButton },
          ],
          items,
          { testid: "resources", rowId: (r) => r.id, empty: "No resources in this organization yet. Ask an organization admin to add one." },
        ),
      "resources-pager",
    );
    await list.reload();
    return {
      el: h("div", {}, h("h1", {}, "Connect to a resource"), h("div", { class: "toolbar" }, transportCheckbox()), out, section("Resources", list.el)),
    };
  };
}
