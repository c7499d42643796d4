/**
 * The measuring side of `scripts/bench sessions` (scripts/benchmarks/sessions.ts
 * starts it once the cluster runs). One Bun process plays every client: it
 * calls the control plane's API as a signed-in member and holds many terminal
 * sessions at once through the access client library (the WebSocket fallback:
 * Bun has no WebTransport). It is its own process because Bun trusts the
 * entry's self-signed certificate only through NODE_EXTRA_CA_CERTS, read at
 * start-up, and the certificate exists only once the entry runs.
 *
 *   bun scripts/benchmarks/sessions-load.ts '<LoadConfig JSON>'
 *   stdout: one JSON line, the LoadResult; progress goes to stderr.
 */
import { sleep, spawn } from "../../core/runtime/index.ts";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { connect, type AccessSession } from "../../web/access/client/connect.ts";

export interface LoadConfig {
  cpUrl: string;
  /** The member's access token. */
  token: string;
  resourceId: string;
  entryPid: number;
  /** For the direct-SSH baseline, the `ssh` command line that logs in to the same sshd. */
  directSsh: string[];
  startSessions: number;
  /** Before each measured start, a pause drawn uniformly from [0, this). */
  startGapMaxMs: number;
  /** The ramp opens no more sessions once the machine's MemAvailable falls under this. */
  minAvailableMemKb: number;
  reattachSessions: number;
  echoProbes: number;
  levels: number[];
  /** Each held session types one keystroke this often during a level's window. */
  keystrokeIntervalMs: number;
  levelWindowMs: number;
  openConcurrency: number;
  /** The ramp stops adding levels after this long. */
  rampBudgetMs: number;
  p99LimitMs: number;
}

export interface Stats {
  samples: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface Level {
  sessions: number;
  opened: number;
  open_failures: number;
  open_seconds: number;
  keystrokes: number;
  keystrokes_per_second: number;
  /** Share of all cores' time busy during the window (every process on the machine), in percent. */
  machine_cpu_busy_pct: number;
  load_average_1m: number;
  /** When the first window missed the bound and the level was measured again: that first window. */
  first_window?: { echo: Stats | null; cpu_busy_pct: number };
  echo_timeouts: number;
  echo: Stats | null;
  entry_rss_kb: number;
  entry_rss_per_session_kb: number;
  met: boolean;
  note?: string;
}

export interface LoadResult {
  start: Stats & { api_p50_ms: number; welcome_p50_ms: number };
  reattach: Stats;
  echo: { fabric: Stats; direct_ssh: Stats; timeouts: number };
  entry_rss_idle_kb: number;
  levels: Level[];
  ramp_stopped: string;
}

const ECHO_TIMEOUT_MS = 5_000;
const PROMPT_TIMEOUT_MS = 30_000;
/** Bytes of recent output kept per terminal: enough to find a prompt or a marker. */
const TAIL = 4096;

const log = (msg: string, fields: Record<string, unknown> = {}) => console.error(JSON.stringify({ t: new Date().toISOString(), msg, ...fields }));
/** Escape sequences a shell writes around its prompt (CSI such as bracketed paste, OSC titles, charset and keypad modes). */
const ESC = "\u001b";
const BEL = "\u0007";
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[ -/]*[@-~]|${ESC}\\][^${BEL}]*${BEL}|${ESC}[()][0-9A-B]|${ESC}[=>]`, "g");
const plain = (s: string) => s.replace(ANSI, "");
/** A shell prompt at the end of the output: `user@host:~# ` or `…$ `. */
const atPrompt = (s: string) => /[#$] $/.test(plain(s));

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);
  return { samples: sorted.length, p50_ms: at(50), p95_ms: at(95), p99_ms: at(99), max_ms: round(sorted.at(-1) ?? 0) };
}
const round = (x: number) => Math.round(x * 100) / 100;

/** Output of one terminal (fabric or direct ssh): a tail to match against, and waiters for the next bytes. */
class Screen {
  text = "";
  private waiters: { test: (s: string, fresh: boolean) => boolean; resolve: () => void }[] = [];

  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-TAIL);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(this.text, true)) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves on the first output after this call (the echo of a keystroke sent right after). */
  next(timeoutMs: number): Promise<boolean> {
    return this.until(() => true, timeoutMs, false);
  }

  /** Resolves true once `test` holds for the output (checked now unless `fresh`), false after the timeout. */
  until(test: (s: string) => boolean, timeoutMs: number, checkNow = true): Promise<boolean> {
    if (checkNow && test(this.text)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = {
        test: (s: string) => test(s),
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

interface Offer {
  token: string;
  entry: { urls: string[] };
}

class Bench {
  constructor(private readonly c: LoadConfig) {}

  async api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${this.c.cpUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${this.c.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }

  async attachTerminal(sessionId: string, offer: Offer): Promise<{ s: AccessSession; screen: Screen }> {
    const s = await connect({ urls: offer.entry.urls, sessionId, token: offer.token, transport: "websocket", timeoutMs: PROMPT_TIMEOUT_MS });
    const screen = new Screen();
    const decoder = new TextDecoder();
    s.onOutput((b) => screen.push(decoder.decode(b, { stream: true })));
    return { s, screen };
  }

  /** POST /remote-sessions → connect → the first prompt; the times are from the API call. */
  async startSession(): Promise<{ id: string; s: AccessSession; screen: Screen; api: number; welcome: number; prompt: number }> {
    const t0 = performance.now();
    const r = await this.api("POST", "/api/v1/remote-sessions", { resource_id: this.c.resourceId });
    const api = performance.now() - t0;
    const { s, screen } = await this.attachTerminal(r.session.id, r.attach);
    const welcome = performance.now() - t0;
    if (!(await screen.until(atPrompt, PROMPT_TIMEOUT_MS)))
      throw new Error(`no prompt within ${PROMPT_TIMEOUT_MS} ms: ${JSON.stringify(screen.text.slice(-200))}`);
    return { id: r.session.id, s, screen, api, welcome, prompt: performance.now() - t0 };
  }

  async terminate(id: string): Promise<void> {
    await this.api("POST", `/api/v1/remote-sessions/${id}/terminate`).catch((e) => log("terminate failed", { error: String(e) }));
  }

  async waitState(id: string, state: string, timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while ((await this.api("GET", `/api/v1/remote-sessions/${id}`)).state !== state) {
      if (performance.now() > deadline) throw new Error(`session ${id} not ${state} within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Start latency, then reattach latency on the same sessions; all terminated afterwards. */
  async startAndReattach(): Promise<{ start: LoadResult["start"]; reattach: Stats }> {
    const starts: number[] = [];
    const apis: number[] = [];
    const welcomes: number[] = [];
    const reattaches: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < this.c.startSessions; i++) {
      // A random pause first: started back to back, each session would meet the adapter's assignment poll at the same
      // phase (right after the previous one ran), always waiting nearly a whole poll period, or never.
      await sleep(Math.random() * this.c.startGapMaxMs);
      const t = await this.startSession();
      ids.push(t.id);
      starts.push(t.prompt);
      apis.push(t.api);
      welcomes.push(t.welcome);
      let { s, screen } = t;
      if (i < this.c.reattachSessions) {
        // A comment typed but not entered: the reattached client sends Enter, which runs it and brings the next prompt.
        // (The adapter replays only output the shell made while detached; none here, so nothing older can match.)
        const mark = `#m${i}x`;
        await s.send(mark);
        if (!(await screen.until((x) => x.includes(mark), ECHO_TIMEOUT_MS))) throw new Error("the marker was not echoed");
        s.close();
        await s.closed;
        await this.waitState(t.id, "detached");
        const t0 = performance.now();
        const offer = await this.api("POST", `/api/v1/remote-sessions/${t.id}/attach`);
        ({ s, screen } = await this.attachTerminal(t.id, offer));
        await s.send("\r");
        const promptAfterEnter = (x: string) => /\n[^\n]*[#$] $/.test(plain(x));
        if (!(await screen.until(promptAfterEnter, PROMPT_TIMEOUT_MS))) throw new Error(`no prompt after reattach: ${JSON.stringify(screen.text.slice(-200))}`);
        reattaches.push(performance.now() - t0);
      }
      s.close();
      log("start/reattach", { i, start_ms: round(t.prompt), reattach_ms: round(reattaches.at(-1) ?? 0) });
    }
    for (const id of ids) await this.terminate(id);
    return {
      start: { ...stats(starts), api_p50_ms: stats(apis).p50_ms, welcome_p50_ms: stats(welcomes).p50_ms },
      reattach: stats(reattaches),
    };
  }

  /** Keystroke → echo on one fabric session and one direct `ssh -tt`, alternating probe by probe, both idle otherwise. */
  async echoVsDirect(): Promise<LoadResult["echo"]> {
    const fabric = await this.startSession();
    const ssh = spawn(this.c.directSsh, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const sshScreen = new Screen();
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of ssh.stdout! as unknown as AsyncIterable<Uint8Array>) sshScreen.push(decoder.decode(chunk, { stream: true }));
    })();
    if (!(await sshScreen.until(atPrompt, PROMPT_TIMEOUT_MS))) throw new Error(`direct ssh: no prompt: ${JSON.stringify(sshScreen.text.slice(-300))}`);
    const sshSend = async (k: string) => {
      await ssh.stdin!.write(k);
    };
    const fab: number[] = [];
    const direct: number[] = [];
    let timeouts = 0;
    for (let i = 0; i < this.c.echoProbes; i++) {
      // "x" then DEL: the line never grows, and every keystroke is echoed (DEL as backspace-space-backspace).
      const key = i % 2 === 0 ? "x" : "\x7f";
      for (const [send, screen, into] of [
        [(k: string) => fabric.s.send(k), fabric.screen, fab],
        [sshSend, sshScreen, direct],
      ] as const) {
        const echoed = screen.next(ECHO_TIMEOUT_MS);
        const t0 = performance.now();
        await send(key);
        if (await echoed) into.push(performance.now() - t0);
        else timeouts++;
        await sleep(5);
      }
    }
    ssh.kill();
    fabric.s.close();
    await this.terminate(fabric.id);
    return { fabric: stats(fab), direct_ssh: stats(direct), timeouts };
  }

  /** Opens sessions up to each level, then every one types for the window; echo p99 over all their keystrokes. */
  async ramp(idleRss: number): Promise<{ levels: Level[]; stopped: string }> {
    const held: { id: string; s: AccessSession; screen: Screen; n: number }[] = [];
    const levels: Level[] = [];
    const rampEnd = performance.now() + this.c.rampBudgetMs;
    let stopped = "its top level was met (the figure is a lower bound)";
    for (const target of this.c.levels) {
      if (performance.now() > rampEnd) {
        stopped = `time budget (${Math.round(this.c.rampBudgetMs / 1000)} s) spent before level ${target}`;
        break;
      }
      const t0 = performance.now();
      let failures = 0;
      let firstFailure = "";
      let next = held.length;
      let lowMemory = false;
      await Promise.all(
        Array.from({ length: this.c.openConcurrency }, async () => {
          while (next < target && failures < 10 && performance.now() < rampEnd && !lowMemory) {
            if (availableMemKb() < this.c.minAvailableMemKb) {
              lowMemory = true;
              break;
            }
            next++;
            try {
              const t = await this.startSession();
              held.push({ id: t.id, s: t.s, screen: t.screen, n: 0 });
            } catch (err) {
              failures++;
              firstFailure ||= String(err);
            }
          }
        }),
      );
      const openSeconds = (performance.now() - t0) / 1000;
      log("level opened", { target, held: held.length, failures, open_seconds: round(openSeconds), first_failure: firstFailure || undefined });
      // The machine is shared: a window that misses the bound while something else takes the cores is measured once
      // more, and the level is judged on the better of the two (both are reported).
      let busy = cpuBusy();
      let window = await this.typeAll(held);
      let cpuBusyPct = busy.since();
      const missed = (w: typeof window) => w.timeouts > 0 || !w.latencies.length || stats(w.latencies).p99_ms >= this.c.p99LimitMs;
      let firstWindow: { echo: Stats | null; cpu_busy_pct: number } | undefined;
      if (held.length >= target && missed(window)) {
        firstWindow = { echo: window.latencies.length ? stats(window.latencies) : null, cpu_busy_pct: cpuBusyPct };
        log("level missed; measuring it once more", { target, ...firstWindow });
        busy = cpuBusy();
        const again = await this.typeAll(held);
        const againBusy = busy.since();
        if (!missed(again) || stats(again.latencies).p99_ms < (firstWindow.echo?.p99_ms ?? Infinity)) {
          window = again;
          cpuBusyPct = againBusy;
        }
      }
      const rss = rssKb(this.c.entryPid);
      const complete = held.length >= target;
      const level: Level = {
        sessions: target,
        opened: held.length,
        open_failures: failures,
        open_seconds: round(openSeconds),
        keystrokes: window.latencies.length,
        keystrokes_per_second: round(window.latencies.length / (this.c.levelWindowMs / 1000)),
        machine_cpu_busy_pct: cpuBusyPct,
        load_average_1m: Math.round(loadavg()[0]! * 100) / 100,
        ...(firstWindow ? { first_window: firstWindow } : {}),
        echo_timeouts: window.timeouts,
        echo: window.latencies.length ? stats(window.latencies) : null,
        entry_rss_kb: rss,
        entry_rss_per_session_kb: held.length ? round((rss - idleRss) / held.length) : 0,
        met: complete && failures === 0 && window.timeouts === 0 && (window.latencies.length ? stats(window.latencies).p99_ms < this.c.p99LimitMs : false),
        ...(firstFailure ? { note: firstFailure.slice(0, 300) } : {}),
      };
      levels.push(level);
      log("level", level as unknown as Record<string, unknown>);
      if (!complete) {
        const why = lowMemory
          ? `the machine's available memory fell under ${Math.round(this.c.minAvailableMemKb / 1024)} MiB`
          : firstFailure
            ? firstFailure.slice(0, 200)
            : "time budget spent";
        stopped = `level ${target} could not be opened (${held.length} sessions held; ${why})`;
        break;
      }
      if (!level.met) {
        stopped = `level ${target} missed the bound (echo p99 ${level.echo?.p99_ms ?? "n/a"} ms, ${window.timeouts} timeouts)`;
        break;
      }
    }
    for (const h of held) h.s.close();
    return { levels, stopped };
  }

  /** Every held session types one keystroke per interval (phases spread evenly) for the window. */
  private async typeAll(held: { s: AccessSession; screen: Screen; n: number }[]): Promise<{ latencies: number[]; timeouts: number }> {
    const latencies: number[] = [];
    let timeouts = 0;
    const end = performance.now() + this.c.levelWindowMs;
    await Promise.all(
      held.map(async (h, i) => {
        await sleep((i / held.length) * this.c.keystrokeIntervalMs);
        while (performance.now() < end) {
          const tick = performance.now();
          const key = h.n++ % 2 === 0 ? "x" : "\x7f";
          const echoed = h.screen.next(ECHO_TIMEOUT_MS);
          const t0 = performance.now();
          await h.s.send(key).catch(() => undefined);
          if (await echoed) latencies.push(performance.now() - t0);
          else timeouts++;
          const wait = this.c.keystrokeIntervalMs - (performance.now() - tick);
          if (wait > 0) await sleep(wait);
        }
      }),
    );
    return { latencies, timeouts };
  }
}

/** Busy share of the machine's CPU time (all processes, all cores) from /proc/stat, from now until `since()`. */
function cpuBusy(): { since(): number } {
  const read = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { total: f.reduce((a, b) => a + b, 0), idle };
  };
  const a = read();
  return {
    since: () => {
      const b = read();
      const total = b.total - a.total;
      return total > 0 ? Math.round((1000 * (total - (b.idle - a.idle))) / total) / 10 : 0;
    },
  };
}

/** MemAvailable from /proc/meminfo, in KiB: the ramp must not starve the other work on this machine. */
function availableMemKb(): number {
  return Number(/MemAvailable:\s+(\d+)\s+kB/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
}

/** Resident memory of a process (VmRSS in /proc/PID/status), in KiB. */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]);
}

if (import.meta.main) {
  const config = JSON.parse(process.argv[2] ?? "{}") as LoadConfig;
  const b = new Bench(config);
  // Before any session: what the per-session growth is measured over.
  const idleRss = rssKb(config.entryPid);
  log("start and reattach", { sessions: config.startSessions, reattach: config.reattachSessions });
  const { start, reattach } = await b.startAndReattach();
  log("keystroke echo vs direct ssh", { probes: config.echoProbes });
  const echo = await b.echoVsDirect();
  log("echo", echo);
  const { levels, stopped } = await b.ramp(idleRss);
  const result: LoadResult = { start, reattach, echo, entry_rss_idle_kb: idleRss, levels, ramp_stopped: stopped };
  console.log(JSON.stringify(result));
  process.exit(0);
}
