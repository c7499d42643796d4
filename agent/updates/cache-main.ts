/**
 * The `update-cache` role's workload process: give it to the role in the
 * agent's workloads file (docs/updates.md), e.g.
 *
 *   {"update-cache": {"command": ["bun", "/opt/rap/agent/updates/cache-main.ts"],
 *                     "env": {"RAP_UPDATE_CACHE_UPSTREAM": "https://releases.example",
 *                             "RAP_UPDATE_TRUSTED_ROOT": "/etc/rap-node-agent/1.root.json",
 *                             "RAP_UPDATE_CACHE_DIR": "/var/lib/rap-node-agent/update-cache",
 *                             "RAP_UPDATE_CACHE_LISTEN": "0.0.0.0:8088"}}}
 *
 * It runs until SIGTERM. A missing setting is one line with the fix, exit 2.
 */
import { UpdateCache } from "./cache.ts";

const env = process.env;
const missing = ["RAP_UPDATE_CACHE_UPSTREAM", "RAP_UPDATE_TRUSTED_ROOT", "RAP_UPDATE_CACHE_DIR", "RAP_UPDATE_CACHE_LISTEN"].filter((k) => !env[k]);
if (missing.length > 0) {
  process.stderr.write(`update-cache: ${missing.join(", ")} not set; fix: set them in the role's workload env (docs/updates.md)\n`);
  process.exit(2);
}
const listen = env.RAP_UPDATE_CACHE_LISTEN as string;
const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(listen);
if (!m) {
  process.stderr.write(`update-cache: RAP_UPDATE_CACHE_LISTEN ${listen} is not IP:port; fix: e.g. 0.0.0.0:8088\n`);
  process.exit(2);
}
const log = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
const cache = await UpdateCache.start({
  upstream: env.RAP_UPDATE_CACHE_UPSTREAM as string,
  trustedRootFile: env.RAP_UPDATE_TRUSTED_ROOT as string,
  dir: env.RAP_UPDATE_CACHE_DIR as string,
  hostname: m[1] as string,
  port: Number(m[2]),
  log,
});
await new Promise<void>((resolve) => {
  process.on("SIGTERM", () => resolve());
  process.on("SIGINT", () => resolve());
});
await cache.stop();
