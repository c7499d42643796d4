/** The Bun side of the seam. `Bun` is touched only inside functions, so Deno can load this file. */
import type { Subprocess } from "bun";
import { constants } from "node:os";
import type { ChildProcess, ChildStdin, RunningServer, RuntimeImpl, ServeOptions, SpawnOptions } from "./types.ts";
import { cleanEnv, statusFromSignal, urlOf } from "./shared.ts";

function serveNow(o: ServeOptions): RunningServer {
  const server = Bun.serve({
    hostname: o.hostname,
    port: o.port,
    fetch: (req, srv) => o.fetch(req, { remoteAddress: srv.requestIP(req)?.address ?? null }),
    // No runtime cap: the app refuses an oversized body with its own answer.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    ...(o.idleTimeoutSeconds !== undefined ? { idleTimeout: o.idleTimeoutSeconds } : {}),
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key } } : {}),
    ...(o.onError ? { error: o.onError } : {}),
  });
  const port = server.port ?? o.port;
  return {
    hostname: o.hostname,
    port,
    url: urlOf(o.hostname, port, !!o.tls),
    stop: async (s) => {
      await server.stop(s?.force ?? false);
    },
  };
}

function spawn(argv: string[], o: SpawnOptions = {}): ChildProcess {
  const input = o.stdin ?? "ignore";
  const proc: Subprocess = Bun.spawn(argv, {
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    env: o.env ? cleanEnv(o.env) : { ...process.env },
    stdin: o.input === undefined ? input : new Blob([typeof o.input === "string" ? o.input : new Uint8Array(o.input)]),
    stdout: o.stdout ?? "pipe",
    stderr: o.stderr ?? "pipe",
  });
  let exitCode: number | null = null;
  const exited = proc.exited.then(() => {
    exitCode = proc.signalCode ? statusFromSignal(proc.signalCode) : (proc.exitCode ?? 0);
    return exitCode;
  });
  const sink = o.input === undefined && input === "pipe" ? (proc.stdin as import("bun").FileSink) : null;
  const stdin: ChildStdin | null = sink
    ? {
        write: async (data) => {
          sink.write(data);
          await sink.flush();
        },
        end: async () => {
          await sink.end();
        },
      }
    : null;
  return {
    pid: proc.pid,
    stdout: o.stdout === "pipe" || o.stdout === undefined ? (proc.stdout as ReadableStream<Uint8Array>) : null,
    stderr: o.stderr === "pipe" || o.stderr === undefined ? (proc.stderr as ReadableStream<Uint8Array>) : null,
    stdin,
    exited,
    get exitCode() {
      return exitCode;
    },
    cpuTimeUs: () => {
      const usage = exitCode === null ? undefined : proc.resourceUsage();
      return usage ? Number(usage.cpuTime.total) : null;
    },
    kill: (signal = "SIGTERM") => {
      if (exitCode !== null || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(typeof signal === "number" ? signal : (constants.signals[signal] ?? signal));
    },
  };
}

export const bunRuntime: RuntimeImpl = {
  name: "bun",
  get version() {
    return Bun.version;
  },
  serveNow,
  spawn,
};
