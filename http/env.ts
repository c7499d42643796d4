/**
 * The one Hono environment: what every handler can read from the context.
 * `deps` carries the control plane's deps (control/deps.ts); `principal` is set by the auth
 * middleware on protected routes.
 */
import type { Principal } from "../core/change.ts";
import type { ControlPlaneMetrics } from "../core/metrics.ts";
import type { Logger } from "../core/log.ts";
import type { ControlDeps } from "../control/deps.ts";
import type { Authenticated } from "../control/auth/authenticate.ts";

/** The control plane's deps plus what only the HTTP edge needs. */
export interface AppDeps extends ControlDeps {
  metrics: ControlPlaneMetrics;
  /** Largest accepted request body in bytes. */
  bodyLimitBytes: number;
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
export type AuthContext = Authenticated;
