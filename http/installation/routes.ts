/** /api/v1/installation: public status and the first-owner bootstrap. */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { valid } from "../validate.ts";
import { anonymousChange } from "../change.ts";
import { BootstrapOwnerBody } from "../../core/contracts/auth.ts";
import { installation } from "../../control/installation/queries.ts";
import { bootstrapOwner } from "../../control/installation/service.ts";

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
