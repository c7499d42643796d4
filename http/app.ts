/**
 * The control-plane Hono app: middleware in order (deps → trace id → access
 * log/metrics → JSON body guard), then one sub-app per resource. One
 * `onError` turns every thrown error into the envelope of http/errors.ts.
 */
import { orgVpnRoutes, platformVpnRoutes } from "./vpn/routes.ts";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppDeps, AppEnv } from "./env.ts";
import { traceId } from "./middleware/trace/index.ts";
import { observe } from "./middleware/observe/index.ts";
import { jsonBody } from "./middleware/json-body/index.ts";
import { healthRoutes } from "./health/routes.ts";
import { clusterRoutes } from "./clusters/routes.ts";
import { installationRoutes } from "./installation/routes.ts";
import { authRoutes } from "./auth/routes.ts";
import { organizationRoutes } from "./organizations/routes.ts";
import { resourceRoutes } from "./resources/routes.ts";
import { sessionRoutes } from "./sessions/routes.ts";
import { auditRoutes } from "./audit/routes.ts";
import { platformRoutes } from "./platform/routes.ts";
import { meRoutes } from "./auth/me.ts";
import { ssoRoutes } from "./auth/sso-routes.ts";
import { orgIdentitySourceRoutes, platformIdentitySourceRoutes } from "./identity-sources/routes.ts";
import { nodeAgentRoutes } from "./node-agents/routes.ts";
import { consoleRoutes } from "./console/routes.ts";
import { accessRoutes } from "./access/routes.ts";
import { openApiRoutes } from "./openapi/routes.ts";
import type { RouteEntry } from "./openapi/document.ts";
import { sendError, statusOf } from "./errors.ts";
import { DomainError } from "../core/errors.ts";
import { F } from "../core/log.ts";
import { versionRepositoryRoutes, versionRoutes } from "./versions/routes.ts";

export function createApp(deps: AppDeps) {
  const app = new Hono<AppEnv>()
    .use(async (c, next) => {
      c.set("deps", deps);
      await next();
    })
    .use(traceId())
    .use(observe())
    .use(jsonBody())
    .route("/", healthRoutes)
    .route("/", consoleRoutes)
    .route("/", accessRoutes)
    .route("/api/v1/installation", installationRoutes)
    // Before the routers of their prefixes, whose authentication middleware would otherwise run first.
    .route("/api/v1/auth/sso", ssoRoutes)
    .route("/api/v1/organizations", orgIdentitySourceRoutes)
    .route("/api/v1/platform/identity-sources", platformIdentitySourceRoutes)
    .route("/api/v1/auth", authRoutes)
    .route("/api/v1/me", meRoutes)
    .route("/api/v1/organizations", organizationRoutes)
    .route("/api/v1/resources", resourceRoutes)
    .route("/api/v1/remote-sessions", sessionRoutes)
    .route("/api/v1/audit", auditRoutes)
    .route("/api/v1/organizations", orgVpnRoutes)
    .route("/api/v1/platform/vpn-connections", platformVpnRoutes)
    .route("/api/v1/platform", platformRoutes)
    .route("/api/v1/clusters", clusterRoutes)
    .route("/api/v1/node-agents", nodeAgentRoutes)
    .route("/api/v1/versions/repository", versionRepositoryRoutes)
    .route("/api/v1/versions", versionRoutes)
    // Built from this app's own route table on first use (http/openapi/).
    .route(
      "/",
      openApiRoutes((): readonly RouteEntry[] => app.routes),
    );

  app.notFound((c) => sendError(c, "route.not_found", { method: c.req.method, path: c.req.path }));

  app.onError((err, c) => {
    const log = c.get("log") ?? deps.log;
    if (err instanceof DomainError) {
      const status = statusOf(err);
      if (status >= 500) log.error("request failed", { [F.errorCode]: err.code, err });
      else log.info("request refused", { [F.errorCode]: err.code });
      return sendError(c, err.code, err.details);
    }
    if (err instanceof HTTPException && err.status < 500) {
      // Hono's own validator guards (content type of a body-less request, ...).
      log.info("request refused", { [F.errorCode]: "request.validation_failed", reason: err.message });
      return sendError(c, err.status === 413 ? "request.body_too_large" : "request.validation_failed", { reason: err.message });
    }
    log.error("unhandled error", { err });
    return sendError(c, "internal.error");
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
