/**
 * The scripts an operator runs first, as real processes: `--help` and `-h`
 * print the usage on stdout, exit 0, and do nothing else (no npm, no
 * services, no server); an unknown option (or a misplaced one) prints the
 * line and the usage on stderr and exits 2 before anything runs.
 * scripts/rap has its own tests.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

setDefaultTimeout(30_000);
import { runToExit } from "../fixtures/process.ts";

const ROOT = join(import.meta.dirname, "..");

let dir: string;
let dataDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-scripts-"));
  dataDir = join(dir, "data");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // A PATH without npm: a script that tried to install anything would fail loudly instead of exiting as asked.
  return runToExit(["bash", join(ROOT, "scripts", name), ...args], { env: { PATH: "/usr/bin:/bin", DATA_DIR: dataDir, PORT: "1" } });
}

describe("help: usage on stdout, exit 0, no side effects", () => {
  const cases: [string, string[], string][] = [
    ["start", ["--help"], "scripts/start --agents [N] [--approve]"],
    ["start", ["-h"], "scripts/start --agents [N] [--approve]"],
    ["start", ["--agents", "2", "--approve", "--help"], "scripts/start --agents [N] [--approve]"],
    ["test", ["--help"], "scripts/test PATH..."],
    ["test", ["-h"], "scripts/test PATH..."],
    ["test", ["http", "--help"], "scripts/test PATH..."],
    ["bench", ["--help"], "scripts/bench heartbeats"],
    ["bench", ["-h"], "scripts/bench heartbeats"],
    ["bench", ["mesh", "--help"], "scripts/bench mesh --quick"],
    ["bench", ["sessions", "--help"], "scripts/bench sessions --quick"],
    ["bench", ["rdp", "--help"], "scripts/bench rdp --quick"],
    ["bench", ["vpn", "--help"], "scripts/bench vpn --quick"],
    ["lint", ["--help"], "scripts/lint --fix"],
    ["lint", ["-h"], "scripts/lint --fix"],
    ["release", ["--help"], "publish --build DIR --repo DIR"],
    ["release", ["build", "-h"], "build --version V --out DIR"],
  ];
  for (const [name, args, shows] of cases) {
    test(`scripts/${name} ${args.join(" ")}`, async () => {
      const r = await script(name, args);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      expect(r.stdout).toContain(shows);
      expect(r.stdout).not.toContain("set -");
      expect(existsSync(dataDir)).toBe(false);
    });
  }
});

describe("unknown options: the line and the usage on stderr, exit 2, nothing run", () => {
  const cases: [string, string[], string][] = [
    ["start", ["--bogus"], "scripts/start: unknown option '--bogus'"],
    ["start", ["--port", "9090"], "scripts/start: unknown option '--port' (HOST, PORT and the rest are environment variables"],
    ["start", ["--agents", "--port", "9090"], "scripts/start: unknown option '--port'"],
    ["start", ["--agents", "many"], "scripts/start: --agents takes a number of agents from 1 to 20, not 'many'"],
    ["start", ["--approve"], "scripts/start: --approve needs --agents"],
    ["test", ["--bogus"], "scripts/test: unknown option '--bogus' (options for bun test go after --)"],
    ["test", ["--", "-t", "x"], "scripts/test: options for bun test need paths"],
    ["bench", [], "scripts/bench: which benchmark? heartbeats, mesh, sessions, rdp or vpn"],
    ["bench", ["bogus"], "scripts/bench: unknown benchmark 'bogus'"],
    ["bench", ["--quick"], "scripts/bench: unknown option '--quick'"],
    ["bench", ["heartbeats", "--bogus"], "scripts/bench: unknown option '--bogus'"],
    ["bench", ["sessions", "--bogus"], "scripts/bench: unknown option '--bogus'"],
    ["bench", ["rdp", "--bogus"], "scripts/bench: unknown option '--bogus'"],
    ["release", ["bogus"], 'release: unknown command "bogus"'],
    ["release", ["build", "--bogus"], "release: Unknown option '--bogus'"],
    ["release", ["build", "--version", "2"], "release: --version must be MAJOR.MINOR.PATCH"],
    ["lint", ["--bogus"], "scripts/lint: unknown option '--bogus'"],
  ];
  for (const [name, args, line] of cases) {
    test(`scripts/${name} ${args.join(" ")}`, async () => {
      const r = await script(name, args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      const [first, ...usage] = r.stderr.trim().split("\n");
      expect(first).toStartWith(line);
      expect(usage.join("\n")).toContain(`scripts/${name} `);
      expect(existsSync(dataDir)).toBe(false);
    });
  }
});
