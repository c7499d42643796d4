/**
 * Assembles and runs one control-plane replica: stores, migrations, actor
 * host, timer scheduler and the Hono app under Bun.serve. `stop()` drains:
 * readiness fails first, in-flight requests finish, the scheduler finishes its
 * tick, then the stores close.
 */
import { chmod, mkdir } from "node:fs/promises";
import { ActorHost } from "../actors/host/host.ts";
import { TimerScheduler } from "../actors/host/scheduler.ts";
import { actorKinds } from "../actors/kinds.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { controlPlaneMetrics } from "../core/metrics.ts";
import { openDb } from "../sql/open.ts";
import { migrate } from "../sql/migrate.ts";
import { openLiveState } from "../live/open.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { loadIdentity } from "./identity.ts";
import { createFabric } from "./fabric.ts";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export async function startServer(cfg: Config, log: Logger = createLogger({ level: cfg.logLevel })): Promise<RunningServer> {
  // Keys and the embedded database live here: owner-only, even when the directory already existed.
  await mkdir(cfg.dataDir, { recursive: true, mode: 0o700 });
  await chmod(cfg.dataDir, 0o700);
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
  const server = Bun.serve({
    hostname: cfg.host,
    port: cfg.port,
    // The server is passed as the Hono env so handlers can read the peer address.
    fetch: (req, srv) => app.fetch(req, srv),
    // Bun's own cap sits above the app's so the app answers with its envelope.
    maxRequestBodySize: cfg.bodyLimitBytes + 1024,
    // Agents long-poll for snapshots for up to 30 s.
    idleTimeout: 60,
  });
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
