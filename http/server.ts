/**
 * Assembles and runs one control-plane replica: stores, migrations, actor
 * host, timer scheduler and the Hono app under Bun.serve. `stop()` drains:
 * readiness fails first, in-flight requests finish, the scheduler finishes its
 * tick, then the stores close.
 */
import { mkdir } from "node:fs/promises";
import { ActorHost } from "../actors/host/host.ts";
import { TimerScheduler } from "../actors/host/scheduler.ts";
import { actorKinds } from "../actors/kinds.ts";
import type { Server } from "bun";
import { createLogger, F, type Logger } from "../core/log.ts";
import { controlPlaneMetrics } from "../core/metrics.ts";
import { openDb } from "../sql/open.ts";
import { migrate } from "../sql/migrate.ts";
import { openLiveState } from "../live/open.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { loadIdentity } from "./identity.ts";
import { createFabric } from "./fabric.ts";
import { envelope } from "./errors.ts";
import { newTraceId } from "../core/ids.ts";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export async function startServer(cfg: Config, log: Logger = createLogger({ level: cfg.logLevel })): Promise<RunningServer> {
  await mkdir(cfg.dataDir, { recursive: true });
  // Keys first: a bad key file should stop start-up before anything touches the database.
  const identity = await loadIdentity(cfg, log);
  const { db, describe: store } = await openDb(cfg);
  const { applied } = await migrate(db);
  if (applied.length) log.info("migrations applied", { migrations: applied });
  const { live, describe: liveDescribe } = await openLiveState(cfg.redisUrl);

  const metrics = controlPlaneMetrics();
  const host = new ActorHost({ db, live, kinds: actorKinds, log, metrics });
  const scheduler = new TimerScheduler({ db, host, log, metrics, pollMs: cfg.timerPollMs });
  const fabric = createFabric({ db, live, host, log, keyring: identity.keyring, replicaMinority: cfg.replicaPartition === "minority" });
  await fabric.nodeBlocklist.start();
  await fabric.snapshots.start();
  let draining = false;
  const app = createApp({
    db,
    live,
    host,
    log,
    metrics,
    bodyLimitBytes: cfg.bodyLimitBytes,
    identity,
    fabric,
    clock: () => new Date(),
    trustProxy: cfg.trustProxy,
    draining: () => draining,
  });
  const server = serve(app, { hostname: cfg.host, port: cfg.port, log });
  scheduler.start();
  const url = `http://${cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host}:${server.port}`;
  log.info("control plane serving", { url, store, live_state: liveDescribe });

  return {
    url,
    stop: async () => {
      draining = true;
      await server.stop(false);
      await scheduler.stop();
      await fabric.heartbeats.stop();
      await fabric.nodeBlocklist.stop();
      await fabric.snapshots.stop();
      await live.close();
      await db.close();
      log.info("control plane stopped");
    },
  };
}

/**
 * Bun.serve for the app. Bun answers some malformed requests itself before
 * any of our code runs (docs/api.md lists them); everything else gets the
 * app's envelope:
 * - no runtime body cap: the app refuses an oversized body with its own 413
 *   (middleware/json-body reads at most BODY_LIMIT_BYTES and then closes the
 *   connection); a body no route reads is discarded by Bun, never buffered.
 *   A runtime cap would answer 413 without the envelope.
 * - `error`: if the app itself ever throws, a 500 envelope instead of Bun's page.
 */
export function serve(app: { fetch(req: Request, srv: Server<undefined>): Response | Promise<Response> }, o: { hostname: string; port: number; log: Logger }): Server<undefined> {
  return Bun.serve({
    hostname: o.hostname,
    port: o.port,
    // The server is passed as the Hono env so handlers can read the peer address.
    fetch: (req, srv) => app.fetch(req, srv),
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Agents long-poll for snapshots for up to 30 s.
    idleTimeout: 60,
    error: (err) => {
      const traceId = newTraceId();
      o.log.error("unhandled error outside the app", { [F.traceId]: traceId, err });
      const { status, body } = envelope("internal.error", {}, traceId);
      return Response.json(body, { status, headers: { "x-trace-id": traceId } });
    },
  });
}
