/**
 * My sessions (#/sessions): the user's live sessions (starting, active,
 * detached) in the chosen organization, with Reattach (a takeover prompt
 * when another device holds the session) and Terminate. Refreshed live.
 */
import { api, type Page } from "../../lib/api.ts";
import { confirm } from "../../lib/dialog.ts";
import { badge, h, mount, table } from "../../lib/dom.ts";
import { attempt } from "../../lib/errors.ts";
import { ago } from "../../lib/format.ts";
import type { PageView } from "../../lib/router.ts";
import { LIVE_STATES, type Org, type RemoteSession } from "../model.ts";
import { reattach } from "../open-session.ts";

const STATE_LABEL: Record<string, string> = { starting: "starting", active: "attached", detached: "detached" };

export function sessionsPage(org: Org) {
  return async (): Promise<PageView> => {
    const out = h("div", { "data-testid": "sessions-result" });
    const body = h("div");
    const load = async () => {
      const pages = await Promise.all(
        LIVE_STATES.map((state) => api.get<Page<RemoteSession>>("/remote-sessions", { organization_id: org.id, state, limit: "100" })),
      );
      const items = pages.flatMap((p) => p.items).sort((a, b) => b.requested_at.localeCompare(a.requested_at));
      mount(
        body,
        table(
          [
            { title: "Resource", cell: (s) => h("strong", {}, s.resource_name) },
            { title: "State", cell: (s) => badge(s.state === "detached" ? "pending" : s.state, STATE_LABEL[s.state] ?? s.state) },
            { title: "Entry point", cell: (s) => s.entry?.name ?? "—" },
            { title: "Started", cell: (s) => ago(s.started_at ?? s.requested_at) },
            { title: "Detached", cell: (s) => (s.detached_at ? ago(s.detached_at) : "—") },
            {
              title: "",
              cell: (s) =>
                h(
                  "div",
                  { class: "actions" },
                  h(
                    "button",
                    { type: "button", class: "primary", "data-testid": `reattach-${s.id}`, onclick: () => attempt(out, () => reattach(s.id)) },
                    "Reattach",
                  ),
                  h(
                    "button",
                    {
                      type: "button",
                      "data-testid": `terminate-${s.id}`,
                      onclick: () =>
                        attempt(out, async () => {
                          const yes = await confirm({
                            title: "Terminate this session?",
                            text: `The shell on ${s.resource_name} is closed, on every device, and cannot be reattached.`,
                            name: "terminate",
                            yes: "Terminate",
                          });
                          if (!yes) return;
                          await api.post(`/remote-sessions/${s.id}/terminate`);
                          await load();
                        }),
                    },
                    "Terminate",
                  ),
                ),
            },
          ],
          items,
          { testid: "sessions", rowId: (s) => s.id, empty: "No open sessions. Connect to a resource to start one." },
        ),
      );
    };
    await load();
    return { el: h("div", {}, h("h1", {}, "My sessions"), out, body), refresh: load };
  };
}
