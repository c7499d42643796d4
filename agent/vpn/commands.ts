/**
 * The host commands the VPN roles run (`ip`, `wg`, `wireguard-go`): the
 * agent configures routes and WireGuard the way an operator would, so what
 * it did can be read back with the same tools. A failing command throws
 * `VpnCommandError` with the command's name and its stderr, never its input
 * (a private key travels only on stdin).
 */
import { createHash } from "node:crypto";
import { type ChildProcess, spawn } from "../../core/runtime/index.ts";

/**
 * A short tag for an id in an interface name (15 bytes at most): a hash, not a prefix, because our ids are UUIDv7,
 * whose leading digits are the creation time and so the same for ids made in the same minutes.
 */
export function shortTag(id: string, length: number): string {
  return createHash("sha256").update(id).digest("hex").slice(0, length);
}

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

/**
 * A long-lived helper that lives no longer than this process: it runs under `sh`, which waits for end of file on
 * its stdin (a pipe only this process holds) and then stops the helper. So a killed agent (SIGKILL, a crash) leaves
 * no tunnel up behind it, as a service manager's control group would; `stopHelper` ends it the same way.
 * Its stderr is kept for the error when it dies early.
 */
export function startHelper(argv: readonly string[], env: Record<string, string>): ChildProcess {
  const script = '"$@" & pid=$!; read -r _; kill "$pid" 2>/dev/null; wait "$pid"';
  return spawn(["sh", "-c", script, "helper", ...argv], { env: { ...process.env, ...env }, stdin: "pipe", stdout: "ignore", stderr: "pipe" });
}

/**
 * A guard that runs `cleanup` when this process ends (its stdin pipe closes: a clean stop, SIGKILL or a crash),
 * like `startHelper`: kernel state the agent made (an nftables table) does not outlive it. `stopHelper` ends it
 * the same way (the clean-up then finds nothing left to remove).
 */
export function startGuard(cleanup: readonly string[]): ChildProcess {
  const script = 'read -r _; "$@" >/dev/null 2>&1; exit 0';
  return spawn(["sh", "-c", script, "guard", ...cleanup], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
}

/** Ends a `startHelper` helper: end of file on its stdin, then (bounded) SIGKILL of the shell. */
export async function stopHelper(child: ChildProcess, timeoutMs = 3000): Promise<void> {
  await child.stdin?.end().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const exited = await Promise.race([child.exited.then(() => true), late]);
  clearTimeout(timer);
  if (!exited) {
    child.kill("SIGKILL");
    await child.exited;
  }
}
