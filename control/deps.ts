/**
 * What every control-plane use case may touch: the stores, the actor host,
 * the clock, the replica's keys, its fabric services and the logger. Built
 * once per replica by control/runtime.ts; `http/` reads it from the Hono
 * context and passes it (or a `Pick` of it) to one control function per route.
 */
import type { ActorHost } from "../actors/host/host.ts";
import type { Logger } from "../core/log.ts";
import type { LiveState } from "../live/live-state.ts";
import type { Db } from "../sql/db.ts";
import type { Fabric } from "./fabric.ts";
import type { Identity } from "./identity.ts";

export interface ControlDeps {
  db: Db;
  live: LiveState;
  host: ActorHost;
  clock: () => Date;
  /** The replica's keys and token settings. */
  identity: Identity;
  fabric: Fabric;
  log: Logger;
}
