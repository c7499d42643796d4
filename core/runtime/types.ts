/**
 * The runtime seam's contract: what the rest of the code may ask of the
 * runtime (Bun or Deno). Both implementations (bun.ts, deno.ts) satisfy it
 * with the same observable behaviour; differences are settled there.
 */

export type RuntimeName = "bun" | "deno";

/** What a request handler learns about the connection beside the request. */
export interface RequestInfo {
  /** The peer's IP address, or null when the runtime cannot tell. */
  remoteAddress: string | null;
}

export interface ServeOptions {
  hostname: string;
  /** 0 = a free port; the bound port is reported in RunningServer.port. */
  port: number;
  fetch: (req: Request, info: RequestInfo) => Response | Promise<Response>;
  tls?: { cert: string; key: string };
  /** Answers when `fetch` itself throws; without it the runtime's own 500. */
  onError?: (err: unknown) => Response | Promise<Response>;
  /**
   * Seconds an idle keep-alive connection is kept (Bun's default is 10, too
   * short for 30 s long polls). Deno keeps idle connections without a limit.
   */
  idleTimeoutSeconds?: number;
}

export interface RunningServer {
  hostname: string;
  port: number;
  url: URL;
  /**
   * Stops listening and resolves when in-flight requests have finished;
   * `{ force: true }` closes open connections at once instead (Bun), or
   * aborts waiting for them (Deno).
   */
  stop(options?: { force?: boolean }): Promise<void>;
}

export type StdioOut = "pipe" | "inherit" | "ignore";

export interface SpawnOptions {
  cwd?: string;
  /**
   * The child's whole environment (replaces the parent's, as Bun.spawn does);
   * undefined values are dropped. Omitted: the parent's environment.
   */
  env?: Record<string, string | undefined>;
  /** "pipe": write with `ChildProcess.stdin`. Default "ignore" (or the `input`, when given). */
  stdin?: "ignore" | "pipe" | "inherit";
  /** Bytes or text fed to the child's stdin, which is then closed (overrides `stdin`). */
  input?: string | Uint8Array;
  stdout?: StdioOut;
  stderr?: StdioOut;
}

/** The write end of a child's stdin ("pipe"). */
export interface ChildStdin {
  /** Resolves when the bytes are handed to the pipe. */
  write(data: string | Uint8Array): Promise<void>;
  /** Closes the pipe (the child reads end of file). */
  end(): Promise<void>;
}

export interface ChildProcess {
  pid: number;
  stdout: ReadableStream<Uint8Array> | null;
  stderr: ReadableStream<Uint8Array> | null;
  stdin: ChildStdin | null;
  /**
   * The exit status: the child's own exit code, or 128 + signal number when
   * a signal ended it (a child that traps SIGTERM and exits 0 gives 0).
   */
  exited: Promise<number>;
  /** null while the child runs, then the same number `exited` resolves to. */
  readonly exitCode: number | null;
  /**
   * CPU time (user + system, µs) the exited child used, where the runtime
   * reports it (Bun); null before exit and on Deno.
   */
  cpuTimeUs(): number | null;
  /** Sends a signal (default SIGTERM); a child that already exited is left alone. */
  kill(signal?: NodeJS.Signals | number): void;
}

/** What each runtime implementation provides. */
export interface RuntimeImpl {
  name: RuntimeName;
  version: string;
  /** Listening when it returns; a bind failure throws. */
  serveNow(options: ServeOptions): RunningServer;
  spawn(argv: string[], options?: SpawnOptions): ChildProcess;
}
