/**
 * The one Hono environment: what every handler can read from the context.
 * `deps` carries the stores and the actor host; `principal` is set by the auth
 * middleware on protected routes.
 */
import type { ActorHost } from "../actors/host/host.ts";
import type { Principal } from "../core/change.ts";
import type { Logger } from "../core/log.ts";
import type { ControlPlaneMetrics } from "../core/metrics.ts";
import type { LiveState } from "../live/live-state.ts";
import type { Db } from "../sql/db.ts";

export interface AppDeps {
  db: Db;
  live: LiveState;
  host: ActorHost;
  log: Logger;
  metrics: ControlPlaneMetrics;
  /** Largest accepted request body in bytes. */
  bodyLimitBytes: number;
  /** Resolves the caller from a bearer token; undefined means not authenticated. */
  authenticate(bearer: string): Promise<Principal | undefined>;
  /** True while the process is shutting down: readiness fails so balancers drain it. */
  draining(): boolean;
}

export interface AppEnv {
  Variables: {
    deps: AppDeps;
    traceId: string;
    log: Logger;
    principal: Principal;
  };
}
