/**
 * Control-plane configuration from the environment, validated once at start.
 * A bad value stops the process with one line per problem; nothing starts
 * half-configured. See docs/operations.md for every variable.
 */
import * as v from "valibot";
import { DomainError } from "../core/errors.ts";

const Port = v.pipe(v.string(), v.regex(/^\d{1,5}$/, "must be a port number"), v.transform(Number), v.minValue(0), v.maxValue(65535));
const PositiveInt = (min: number, max: number) => v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(min), v.maxValue(max));
const Url = (schemes: string[]) =>
  v.pipe(v.string(), v.check((s) => {
    try {
      return schemes.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL with scheme ${schemes.join(" or ")}`));

const Env = v.object({
  APP_ENV: v.optional(v.picklist(["development", "test", "production"]), "development"),
  HOST: v.optional(v.pipe(v.string(), v.minLength(1)), "127.0.0.1"),
  PORT: v.optional(Port, "8080"),
  DATA_DIR: v.optional(v.pipe(v.string(), v.minLength(1)), ".data"),
  DATABASE_URL: v.optional(Url(["postgres:", "postgresql:"])),
  REDIS_URL: v.optional(Url(["redis:", "rediss:"])),
  LOG_LEVEL: v.optional(v.picklist(["debug", "info", "warn", "error"]), "info"),
  BODY_LIMIT_BYTES: v.optional(PositiveInt(1024, 64 * 1024 * 1024), String(1024 * 1024)),
  TIMER_POLL_MS: v.optional(PositiveInt(10, 60_000), "250"),
  RAP_OPERATOR_TOKEN: v.optional(v.pipe(v.string(), v.minLength(32, "must be at least 32 characters"))),
});

export type Config = {
  appEnv: "development" | "test" | "production";
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  logLevel: "debug" | "info" | "warn" | "error";
  bodyLimitBytes: number;
  timerPollMs: number;
  operatorToken?: string;
};

export class ConfigInvalid extends DomainError {
  constructor(readonly problems: string[]) {
    super("config.invalid", `invalid configuration:\n  ${problems.join("\n  ")}`, { problems });
  }
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty variables count as unset, as shells and compose files often export them.
  const present = Object.fromEntries(Object.entries(env).filter(([, val]) => val !== undefined && val !== ""));
  const r = v.safeParse(Env, present);
  if (!r.success) throw new ConfigInvalid(r.issues.map((i) => `${v.getDotPath(i)}: ${i.message}`));
  const e = r.output;
  const cfg: Config = {
    appEnv: e.APP_ENV,
    host: e.HOST,
    port: e.PORT,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    timerPollMs: e.TIMER_POLL_MS,
    operatorToken: e.RAP_OPERATOR_TOKEN,
  };
  if (cfg.appEnv === "production") {
    const problems: string[] = [];
    if (!cfg.databaseUrl) problems.push("DATABASE_URL: production needs a PostgreSQL server, not the embedded store");
    if (!cfg.redisUrl) problems.push("REDIS_URL: production needs Redis, not the in-process live state");
    if (!cfg.operatorToken) problems.push("RAP_OPERATOR_TOKEN: production does not generate an operator token; set one");
    if (problems.length) throw new ConfigInvalid(problems);
  }
  return cfg;
}
