/**
 * Control-plane entry point (scripts/start runs it). Reads configuration,
 * starts one replica, and shuts down gracefully on SIGINT/SIGTERM; a second
 * signal exits at once. Exit code 2: the configuration is invalid or its keys
 * differ from the installation's; nothing started.
 */
import { createLogger } from "../core/log.ts";
import { type Config, ConfigInvalid, loadConfig } from "../control/config.ts";
import { InstallationKeyMismatch } from "../control/installation/keys.ts";
import { startServer } from "./server.ts";

let cfg: Config;
try {
  cfg = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigInvalid)) throw err;
  console.error(`rap control plane: ${err.message}\nfix: see docs/operations.md#configuration`);
  process.exit(2);
}

const log = createLogger({ level: cfg.logLevel });
const server = await startServer(cfg, log).catch((err) => {
  log.error("control plane failed to start", { err });
  if (err instanceof InstallationKeyMismatch) {
    // One line: which key differs from the installation's, and the fix.
    console.error(`rap control plane: ${err.message}`);
    process.exit(2);
  }
  console.error(`rap control plane: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigInvalid ? 2 : 1);
});

console.error(
  `rap control plane serving ${server.url}  (health: ${server.url}/healthz, installation: ${server.url}/api/v1/installation, console: ${server.url}/console/; Ctrl-C stops)`,
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info("shutting down", { signal });
    server.stop().then(
      () => process.exit(0),
      (err) => {
        log.error("shutdown failed", { err });
        process.exit(1);
      },
    );
  });
}
