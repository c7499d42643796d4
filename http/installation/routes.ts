/** /api/v1/installation: public status and the first-owner bootstrap. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { valid } from "../validate.ts";
import { anonymousChange } from "../change.ts";
import { BootstrapOwnerBody } from "../../core/contracts/auth.ts";
import { installation } from "../../control/installation/queries.ts";
import { bootstrapOwner } from "../../control/installation/service.ts";
import { describeRoutes } from "../openapi/registry.ts";

export const installationRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const { identity } = c.get("deps");
    const row = await installation(c.get("deps"));
    return c.json({
      activated: Boolean(row),
      mode: identity.mode,
      product_root_fingerprint: identity.productRoot?.fingerprint ?? null,
      insecure_bootstrap_enabled: identity.mode === "dev" && identity.insecureBootstrap,
      activated_at: row?.activatedAt.toISOString() ?? null,
    });
  })
  .post("/bootstrap-owner", valid("json", BootstrapOwnerBody), async (c) =>
    c.json(await bootstrapOwner(c.get("deps"), c.req.valid("json"), anonymousChange(c)), 201),
  );

describeRoutes(installationRoutes, {
  "GET /": { summary: "Installation state: mode, whether it has an owner" },
  "POST /bootstrap-owner": {
    summary: "Create the first owner (dev insecure bootstrap or a signed activation)",
    status: 201,
    errors: [
      "installation.already_activated",
      "installation.activation_required",
      "installation.insecure_bootstrap_disabled",
      "installation.signature_invalid",
      "installation.wrong_installation",
    ],
  },
});
