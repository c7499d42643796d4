/**
 * Control-plane entry point (scripts/start runs it). Reads configuration,
 * starts one replica, and shuts down gracefully on SIGINT/SIGTERM; a second
 * signal exits at once. A start that is refused prints one line on stderr per
 * problem, with the cause and the fix, and no stack trace (the JSON log on
 * stdout keeps the details): exit code 2 when the configuration is wrong
 * (a bad value, a key that differs from the installation's, a wrong database
 * password), 1 when the environment is (a server down, a port in use).
 * Nothing started either way.
 */
import { createLogger } from "../core/log.ts";
import { type Config, ConfigInvalid, loadConfig } from "../control/config.ts";
import { InstallationKeyMismatch } from "../control/installation/keys.ts";
import { StartupRefused } from "../control/startup.ts";
import { startServer } from "./server.ts";

const CONFIG_DOCS = "see docs/operations.md#configuration";
const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();

/** Prints why the start was refused and exits: one line per problem. */
function refuse(err: unknown): never {
  if (err instanceof ConfigInvalid) {
    for (const problem of err.problems) console.error(`rap control plane: invalid configuration: ${oneLine(problem)}; fix: ${CONFIG_DOCS}`);
    process.exit(2);
  }
  // Both carry their cause and fix in one line.
  if (err instanceof StartupRefused || err instanceof InstallationKeyMismatch) {
    console.error(`rap control plane: ${oneLine(err.message)}`);
    process.exit(err instanceof StartupRefused ? err.exitCode : 2);
  }
  console.error(
    `rap control plane: failed to start: ${oneLine(err instanceof Error ? err.message : String(err))}; fix: the "control plane failed to start" log line on stdout has the details`,
  );
  process.exit(1);
}

let cfg: Config;
try {
  cfg = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigInvalid)) throw err;
  refuse(err);
}

const log = createLogger({ level: cfg.logLevel });
const server = await startServer(cfg, log).catch((err) => {
  log.error("control plane failed to start", { err });
  return refuse(err);
});

console.error(
  `rap control plane serving ${server.url}  (health: ${server.url}/healthz, installation: ${server.url}/api/v1/installation, console: ${server.url}/console/, access portal: ${server.url}/access/; Ctrl-C stops)`,
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
