/**
 * Assembles and runs one control-plane replica: stores, migrations, actor
 * host, timer scheduler and the Hono app under Bun.serve. `stop()` drains:
 * readiness fails first, in-flight requests finish, the scheduler finishes its
 * tick, then the stores close.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ActorHost } from "../actors/host/host.ts";
import { TimerScheduler } from "../actors/host/scheduler.ts";
import { actorKinds } from "../actors/kinds.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { controlPlaneMetrics } from "../core/metrics.ts";
import { toHex } from "../core/ids.ts";
import { openDb } from "../sql/open.ts";
import { migrate } from "../sql/migrate.ts";
import { openLiveState } from "../live/open.ts";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { operatorTokenAuthenticator } from "./operator-token.ts";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export async function startServer(cfg: Config, log: Logger = createLogger({ level: cfg.logLevel })): Promise<RunningServer> {
  await mkdir(cfg.dataDir, { recursive: true });
  const { db, describe: store } = await openDb(cfg);
  const { applied } = await migrate(db);
  if (applied.length) log.info("migrations applied", { migrations: applied });
  const { live, describe: liveDescribe } = await openLiveState(cfg.redisUrl);
  const operator = await operatorToken(cfg, log);

  const metrics = controlPlaneMetrics();
  const host = new ActorHost({ db, live, kinds: actorKinds, log, metrics });
  const scheduler = new TimerScheduler({ db, host, log, metrics, pollMs: cfg.timerPollMs });
  let draining = false;
  const app = createApp({
    db,
    live,
    host,
    log,
    metrics,
    bodyLimitBytes: cfg.bodyLimitBytes,
    authenticate: operatorTokenAuthenticator(operator),
    draining: () => draining,
  });
  const server = Bun.serve({
    hostname: cfg.host,
    port: cfg.port,
    fetch: app.fetch,
    // Bun's own cap sits above the app's so the app answers with its envelope.
    maxRequestBodySize: cfg.bodyLimitBytes + 1024,
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
      await live.close();
      await db.close();
      log.info("control plane stopped");
    },
  };
}

/**
 * The operator bearer token: RAP_OPERATOR_TOKEN, or outside production one
 * generated on first start into DATA_DIR/operator-token (mode 0600).
 */
async function operatorToken(cfg: Config, log: Logger): Promise<string> {
  if (cfg.operatorToken) return cfg.operatorToken;
  const file = join(cfg.dataDir, "operator-token");
  const existing = await readFile(file, "utf8").then((s) => s.trim(), () => "");
  if (existing) return existing;
  const token = `rap_op_${toHex(crypto.getRandomValues(new Uint8Array(24)))}`;
  await writeFile(file, token + "\n", { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  log.info("operator token generated", { file });
  return token;
}
