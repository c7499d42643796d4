/**
 * The Deno side of the seam. `Deno` is read from globalThis inside functions
 * (typed by the few members used here), so Bun can load this file and tsc
 * needs no Deno type package.
 */
import type { ChildProcess, ChildStdin, RunningServer, RuntimeImpl, ServeOptions, SpawnOptions } from "./types.ts";
import { constants } from "node:os";
import { cleanEnv, urlOf, withoutEmptyBody } from "./shared.ts";

type Stdio = "piped" | "inherit" | "null";

interface DenoChild {
  pid: number;
  stdin: WritableStream<Uint8Array>;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  status: Promise<{ success: boolean; code: number; signal: string | null }>;
  kill(signal?: string): void;
}

interface DenoServer {
  addr: { hostname: string; port: number };
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

interface DenoApi {
  version: { deno: string };
  serve(
    options: {
      hostname: string;
      port: number;
      cert?: string;
      key?: string;
      signal?: AbortSignal;
      onListen?: (addr: { hostname: string; port: number }) => void;
      onError?: (err: unknown) => Response | Promise<Response>;
    },
    handler: (req: Request, info: { remoteAddr: { hostname: string; port: number } }) => Response | Promise<Response>,
  ): DenoServer;
  Command: new (
    cmd: string,
    options: { args: string[]; cwd?: string; env?: Record<string, string>; clearEnv?: boolean; stdin: Stdio; stdout: Stdio; stderr: Stdio },
  ) => { spawn(): DenoChild };
}

const deno = () => (globalThis as unknown as { Deno: DenoApi }).Deno;

const stdio = (s: "pipe" | "inherit" | "ignore"): Stdio => (s === "pipe" ? "piped" : s === "inherit" ? "inherit" : "null");

function serveNow(o: ServeOptions): RunningServer {
  const server = deno().serve(
    {
      hostname: o.hostname,
      port: o.port,
      ...(o.tls ? { cert: o.tls.cert, key: o.tls.key } : {}),
      ...(o.onError ? { onError: o.onError } : {}),
      // Without onListen Deno prints "Listening on …" to stdout.
      onListen: () => {},
    },
    (req, info) => o.fetch(withoutEmptyBody(req), { remoteAddress: info.remoteAddr?.hostname ?? null }),
  );
  // Bound when Deno.serve returns (a bind failure throws there), as with Bun.
  const port = server.addr.port;
  return {
    hostname: o.hostname,
    port,
    url: urlOf(o.hostname, port, !!o.tls),
    stop: async (s) => {
      const done = server.shutdown();
      // Deno has no "close open connections now": a forced stop stops waiting for them.
      if (!s?.force) await done;
    },
  };
}

function spawn(argv: string[], o: SpawnOptions = {}): ChildProcess {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error("spawn: empty argv");
  const input = o.stdin ?? "ignore";
  const feeds = o.input !== undefined;
  const child = new (deno().Command)(cmd, {
    args,
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: cleanEnv(o.env), clearEnv: true } : {}),
    stdin: feeds || input === "pipe" ? "piped" : input === "inherit" ? "inherit" : "null",
    stdout: stdio(o.stdout ?? "pipe"),
    stderr: stdio(o.stderr ?? "pipe"),
  }).spawn();
  let exitCode: number | null = null;
  // Deno.Command reports the child's own exit code (a trapped SIGTERM that exits 0 is 0),
  // and 128 + signo for a death by signal, the same as Bun after normalization.
  const exited = child.status.then((s) => {
    exitCode = s.code;
    return exitCode;
  });
  let stdin: ChildStdin | null = null;
  if (feeds) {
    const writer = child.stdin.getWriter();
    void writer
      .write(typeof o.input === "string" ? new TextEncoder().encode(o.input) : (o.input as Uint8Array))
      .then(() => writer.close())
      .catch(() => {});
  } else if (input === "pipe") {
    const writer = child.stdin.getWriter();
    stdin = {
      write: (data) => writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data),
      end: () => writer.close().catch(() => {}),
    };
  }
  return {
    pid: child.pid,
    stdout: (o.stdout ?? "pipe") === "pipe" ? child.stdout : null,
    stderr: (o.stderr ?? "pipe") === "pipe" ? child.stderr : null,
    stdin,
    exited,
    get exitCode() {
      return exitCode;
    },
    cpuTimeUs: () => null,
    kill: (signal = "SIGTERM") => {
      if (exitCode !== null) return;
      try {
        child.kill(typeof signal === "number" ? signalName(signal) : signal);
      } catch {
        // Exited between the check and the kill.
      }
    },
  };
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(constants.signals as Record<string, number>)) if (value === n) return name;
  throw new Error(`spawn: unknown signal ${n}`);
}

export const denoRuntime: RuntimeImpl = {
  name: "deno",
  get version() {
    return deno().version.deno;
  },
  serveNow,
  spawn,
};
