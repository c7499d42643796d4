/**
 * Runs one control-plane replica over HTTP: asks control/runtime.ts for the
 * deps, serves the Hono app under Bun.serve. `stop()` drains: readiness fails
 * first, in-flight requests finish, then the control plane stops.
 */
import { createLogger, type Logger } from "../core/log.ts";
import { openControlPlane } from "../control/runtime.ts";
import type { Config } from "../control/config.ts";
import { createApp } from "./app.ts";
import { routableRequest } from "./routable-request.ts";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

export async function startServer(cfg: Config, log: Logger = createLogger({ level: cfg.logLevel })): Promise<RunningServer> {
  const control = await openControlPlane(cfg, log);
  let draining = false;
  const app = createApp({
    ...control.deps,
    metrics: control.metrics,
    bodyLimitBytes: cfg.bodyLimitBytes,
    trustProxy: cfg.trustProxy,
    draining: () => draining,
  });
  const server = Bun.serve({
    hostname: cfg.host,
    port: cfg.port,
    fetch: (req, srv) => {
      // Host-less requests (HTTP/1.0 health checks) get this server's own origin (http/routable-request.ts).
      const routable = routableRequest(req, url);
      // The server is passed as the Hono env so handlers can read the peer address; Bun
      // knows the peer only of the request it made, not of a copy.
      return app.fetch(routable, routable === req ? srv : { requestIP: () => srv.requestIP(req) });
    },
    // Bun's own cap sits above the app's so the app answers with its envelope.
    maxRequestBodySize: cfg.bodyLimitBytes + 1024,
    // Agents long-poll for snapshots for up to 30 s.
    idleTimeout: 60,
  });
  // Also the origin of Host-less requests; set before the first request can arrive (fetch runs on a later tick).
  const url = `http://${cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host}:${server.port}`;
  control.start();
  log.info("control plane serving", { url, store: control.describe.store, live_state: control.describe.liveState });

  return {
    url,
    stop: async () => {
      draining = true;
      await server.stop(false);
      await control.stop();
      log.info("control plane stopped");
    },
  };
}
