/**
 * Runs one control-plane replica over HTTP: asks control/runtime.ts for the
 * deps, serves the Hono app through the runtime seam (core/runtime: Bun or
 * Deno). `stop()` drains: readiness fails first, in-flight requests finish,
 * then the control plane stops.
 */
import { type RequestInfo, type RunningServer as HttpServer, serveNow } from "../core/runtime/index.ts";
import { createLogger, F, type Logger } from "../core/log.ts";
import { newTraceId } from "../core/ids.ts";
import { envelope } from "./errors.ts";
import { openControlPlane } from "../control/runtime.ts";
import type { Config } from "../control/config.ts";
import { listenFailure } from "../control/startup.ts";
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
  let server: HttpServer;
  try {
    server = serve(app, { hostname: cfg.host, port: cfg.port, log });
  } catch (err) {
    await control.stop();
    throw listenFailure(err, cfg.host, cfg.port);
  }
  const url = originOf(cfg.host, server.port);
  control.start();
  log.info("control plane serving", { url, store: control.describe.store, live_state: control.describe.liveState });

  return {
    url,
    stop: async () => {
      draining = true;
      await server.stop();
      await control.stop();
      log.info("control plane stopped");
    },
  };
}

/**
 * The app over HTTP. The runtime answers some malformed requests itself
 * before any of our code runs (docs/api.md lists them); everything else gets
 * the app's envelope:
 * - no runtime body cap: the app refuses an oversized body with its own 413
 *   (middleware/json-body reads at most BODY_LIMIT_BYTES and then closes the
 *   connection); a body no route reads is discarded, never buffered.
 *   A runtime cap would answer 413 without the envelope.
 * - `onError`: if the app itself ever throws, a 500 envelope instead of the runtime's page.
 * - Host-less requests (HTTP/1.0 health checks) get this server's own origin
 *   (http/routable-request.ts), so they route like any other.
 * - The peer address reaches handlers as the Hono env (`RequestInfo`,
 *   http/client-ip.ts).
 */
export function serve(
  app: { fetch(req: Request, env: RequestInfo): Response | Promise<Response> },
  o: { hostname: string; port: number; log: Logger },
): HttpServer {
  let origin = "";
  const server = serveNow({
    hostname: o.hostname,
    port: o.port,
    fetch: (req, info) => app.fetch(routableRequest(req, origin), info),
    // Agents long-poll for snapshots for up to 30 s.
    idleTimeoutSeconds: 60,
    onError: (err) => {
      const traceId = newTraceId();
      o.log.error("unhandled error outside the app", { [F.traceId]: traceId, err });
      const { status, body } = envelope("internal.error", {}, traceId);
      return Response.json(body, { status, headers: { "x-trace-id": traceId } });
    },
  });
  // Set before the first request can arrive: fetch runs on a later tick.
  origin = originOf(o.hostname, server.port);
  return server;
}

const originOf = (host: string, port: number | undefined) => `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
