/**
 * Structured JSON logs, one object per line. Field names are constants (F) so
 * dashboards and tests never chase spelling. The sink is a parameter: main.ts
 * writes to stdout, tests collect lines. Callers pass causes as `err`; only
 * their message and name are written, never request bodies or secrets.
 */
export const F = {
  traceId: "trace.id",
  actorKind: "actor.kind",
  actorId: "actor.id",
  event: "event.type",
  version: "actor.version",
  method: "http.method",
  path: "http.path",
  status: "http.status",
  durationMs: "duration.ms",
  errorCode: "error.code",
  timerId: "timer.id",
  component: "component",
} as const;

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown> & { err?: unknown };
export type LogSink = (line: string) => void;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function createLogger(opts: { level?: Level; sink?: LogSink; base?: LogFields } = {}): Logger {
  const min = ORDER[opts.level ?? "info"];
  const sink = opts.sink ?? ((line: string) => process.stdout.write(`${line}\n`));
  const base = opts.base ?? {};
  const write = (level: Level, msg: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    const { err, ...rest } = fields;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...base, ...rest };
    if (err !== undefined) record.err = describeError(err);
    sink(JSON.stringify(record));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ level: opts.level, sink, base: { ...base, ...fields } }),
  };
}

/** Name, message and the chain of causes; stack only for non-domain errors. */
function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  if ("code" in err && typeof err.code === "string") out.code = err.code;
  if (err.cause !== undefined) out.cause = describeError(err.cause);
  return out;
}

export const silentLogger: Logger = createLogger({ sink: () => {} });
