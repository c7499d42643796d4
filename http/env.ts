/**
 * The one Hono environment: what every handler can read from the context.
 * `deps` carries the stores and the actor host; `principal` is set by the auth
 * middleware on protected routes.
 */
import type { ActorHost } from "../actors/host/host.ts";
import type { Principal } from "../core/change.ts";
import type { Subject } from "../core/authz.ts";
import type { Identity } from "./identity.ts";
import type { Fabric } from "./fabric.ts";
import type { UserRow } from "../sql/users.ts";
import type { SessionRow } from "../sql/auth-sessions.ts";
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
  identity: Identity;
  fabric: Fabric;
  clock: () => Date;
  trustProxy: boolean;
  /** True while the process is shutting down: readiness fails so balancers drain it. */
  draining(): boolean;
}

export interface AppEnv {
  Variables: {
    deps: AppDeps;
    traceId: string;
    log: Logger;
    principal: Principal;
    auth: AuthContext;
  };
}

/** Who is calling, set by the authenticate middleware. */
export interface AuthContext {
  user: UserRow;
  session: SessionRow;
  subject: Subject;
}
