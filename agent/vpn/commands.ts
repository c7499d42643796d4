/**
 * The host commands the VPN roles run (`ip`, `wg`, `wireguard-go`): the
 * agent configures routes and WireGuard the way an operator would, so what
 * it did can be read back with the same tools. A failing command throws
 * `VpnCommandError` with the command's name and its stderr, never its input
 * (a private key travels only on stdin).
 */
import { type ChildProcess, spawn } from "../../core/runtime/index.ts";

export class VpnCommandError extends Error {
  readonly code = "vpn.command_failed";
  constructor(
    readonly command: string,
    readonly status: number,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${status}): ${stderr.trim().slice(0, 300)}`);
  }
}

async function text(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  return stream ? new Response(stream).text() : "";
}

/** Runs `argv` to its end; its stdout. `input` goes to stdin (secrets go this way, never in argv). */
export async function run(argv: readonly string[], input?: string): Promise<string> {
  const child = spawn([...argv], { input, stdout: "pipe", stderr: "pipe" });
  const [out, err, status] = await Promise.all([text(child.stdout), text(child.stderr), child.exited]);
  if (status !== 0) throw new VpnCommandError(argv.slice(0, 3).join(" "), status, err);
  return out;
}

/** Like `run`, for clean-up: a failure (the link already gone) is not an error. */
export async function attempt(argv: readonly string[]): Promise<boolean> {
  return run(argv).then(
    () => true,
    () => false,
  );
}

/** A long-lived helper (wireguard-go in the foreground); its stderr is kept for the error when it dies early. */
export function start(argv: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn([...argv], { env: { ...process.env, ...env }, stdout: "ignore", stderr: "pipe" });
}
