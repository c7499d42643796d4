/**
 * The runtime seam: the one module that knows whether the code runs on Bun
 * or Deno. Everything else imports serve, spawn, sleep and file reads from
 * here and stays portable (README.md beside this file).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import type { ChildProcess, RunningServer, RuntimeImpl, RuntimeName, ServeOptions, SpawnOptions } from "./types.ts";

export type { ChildProcess, ChildStdin, RequestInfo, RunningServer, RuntimeName, ServeOptions, SpawnOptions, StdioOut } from "./types.ts";

const impl: RuntimeImpl = "Deno" in globalThis ? denoRuntime : bunRuntime;

export const runtimeName: RuntimeName = impl.name;
export const runtimeVersion: string = impl.version;

/** The repository root (this file is core/runtime/index.ts). */
const ROOT = join(import.meta.dirname, "../..");

/** deno.json at the repository root: node_modules from npm, no remote imports. */
export const DENO_CONFIG = join(ROOT, "deno.json");

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const readText = (path: string): Promise<string> => readFile(path, "utf8");

export const readBytes = async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(path));

/** An HTTP server on hostname:port (0 = a free port); resolves once it listens. */
export const serve = async (options: ServeOptions): Promise<RunningServer> => impl.serveNow(options);

/**
 * `serve` for callers that need the port at once (both runtimes bind before
 * returning): listening when it returns; a bind failure throws.
 */
export const serveNow = (options: ServeOptions): RunningServer => impl.serveNow(options);

/** Starts a child process (argv[0] looked up in PATH). See ChildProcess for the exit status. */
export const spawn = (argv: string[], options?: SpawnOptions): ChildProcess => impl.spawn(argv, options);

/**
 * Deno permission flags for a child script: every permission by default (test
 * children, fixtures). The agent and the control plane have their own
 * explicit sets (docs/operations.md).
 */
export type ScriptPermissions = string[];

/**
 * The argv that runs a TypeScript file of this repository on the current
 * runtime (or `runtime`): `bun FILE ARGS` or
 * `deno run --config deno.json PERMS FILE ARGS`. The other runtime's binary
 * is $BUN / $DENO (scripts/lib/common.sh exports them), else the one npm
 * installed.
 */
export function scriptArgv(file: string, args: string[] = [], permissions: ScriptPermissions = ["--allow-all"], runtime: RuntimeName = runtimeName): string[] {
  const binary = runtime === runtimeName ? process.execPath : runtimeBinary(runtime);
  if (runtime === "bun") return [binary, file, ...args];
  return [binary, "run", "--quiet", "--config", DENO_CONFIG, ...permissions, file, ...args];
}

/** The binary of `runtime`: this process's own when it is the current one, else $BUN / $DENO, else npm's. */
export function runtimeBinary(runtime: RuntimeName): string {
  if (runtime === runtimeName) return process.execPath;
  if (runtime === "bun") return process.env.BUN || join(ROOT, "node_modules/.bin/bun");
  return process.env.DENO || join(ROOT, "node_modules/@deno/linux-x64-glibc/deno");
}
