/**
 * Control-plane configuration from the environment, validated once at start.
 * A bad value stops the process with one line per problem; nothing starts
 * half-configured. See docs/operations.md for every variable.
 */
import * as v from "valibot";
import { DomainError } from "../core/errors.ts";

const Port = v.pipe(v.string(), v.regex(/^\d{1,5}$/, "must be a port number"), v.transform(Number), v.minValue(0), v.maxValue(65535));
const PositiveInt = (min: number, max: number) =>
  v.pipe(v.string(), v.regex(/^\d+$/, "must be a whole number"), v.transform(Number), v.minValue(min), v.maxValue(max));
const Url = (schemes: string[]) =>
  v.pipe(
    v.string(),
    v.check(
      (s) => {
        try {
          return schemes.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL with scheme ${schemes.join(" or ")}`,
    ),
  );

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
  ADAPTER_SILENCE_SECONDS: v.optional(PositiveInt(3, 600), "15"),
  INSTALLATION_AUTHORITY_MODE: v.optional(v.picklist(["strict", "dev"])),
  INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_B64: v.optional(v.string()),
  INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE: v.optional(v.string()),
  INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: v.optional(v.picklist(["true", "false"]), "false"),
  SECRET_ENCRYPTION_KEY_B64: v.optional(v.string()),
  SECRET_ENCRYPTION_KEY_FILE: v.optional(v.string()),
  SECRET_ENCRYPTION_KEY_ID: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - only")), "k1"),
  SECRET_ENCRYPTION_PREVIOUS_KEYS: v.optional(v.string()),
  AUTH_TOKEN_KEY_B64: v.optional(v.string()),
  AUTH_TOKEN_KEY_FILE: v.optional(v.string()),
  ACCESS_TOKEN_TTL_SECONDS: v.optional(PositiveInt(30, 3600), "600"),
  DATA_PLANE_TOKEN_KEY_B64: v.optional(v.string()),
  DATA_PLANE_TOKEN_KEY_FILE: v.optional(v.string()),
  DATA_PLANE_TOKEN_TTL_SECONDS: v.optional(PositiveInt(10, 300), "60"),
  RAP_REPLICA_PARTITION: v.optional(v.picklist(["normal", "minority"]), "normal"),
  TRUST_PROXY: v.optional(v.picklist(["true", "false"]), "false"),
  REFRESH_TOKEN_TTL_SECONDS: v.optional(PositiveInt(300, 90 * 24 * 3600), String(30 * 24 * 3600)),
});

/** A key given inline (base64) or as a file path; neither means "not configured". */
export interface KeySource {
  b64?: string;
  file?: string;
}

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
  /** An adapter node that has not read its session assignments this long loses its sessions (adapter_node_lost). */
  adapterSilenceMs: number;
  /** Take the client address from X-Forwarded-For (only behind a trusted load balancer). */
  trustProxy: boolean;
  /** `minority`: this replica runs in a segment cut off from the authoritative one; it refuses trust changes for every cluster. */
  replicaPartition: "normal" | "minority";
  authority: { mode: "strict" | "dev"; productRootKey: KeySource; insecureBootstrap: boolean };
  secrets: { activeKeyId: string; activeKey: KeySource; previousKeys: string | undefined };
  auth: { tokenKey: KeySource; accessTtlSeconds: number; refreshTtlSeconds: number };
  /** Ed25519 private key (PKCS#8, base64) that signs data-plane tokens; entry nodes get its public half. */
  dataPlaneTokenKey: KeySource;
  /** Lifetime of the data-plane tokens attach answers carry (10–300 s). */
  dataPlaneTokenTtlSeconds: number;
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
    adapterSilenceMs: e.ADAPTER_SILENCE_SECONDS * 1000,
    trustProxy: e.TRUST_PROXY === "true",
    replicaPartition: e.RAP_REPLICA_PARTITION,
    authority: {
      mode: e.INSTALLATION_AUTHORITY_MODE ?? (e.APP_ENV === "production" ? "strict" : "dev"),
      productRootKey: { b64: e.INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_B64, file: e.INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE },
      insecureBootstrap: e.INSTALLATION_INSECURE_BOOTSTRAP_ENABLED === "true",
    },
    secrets: {
      activeKeyId: e.SECRET_ENCRYPTION_KEY_ID,
      activeKey: { b64: e.SECRET_ENCRYPTION_KEY_B64, file: e.SECRET_ENCRYPTION_KEY_FILE },
      previousKeys: e.SECRET_ENCRYPTION_PREVIOUS_KEYS,
    },
    auth: {
      tokenKey: { b64: e.AUTH_TOKEN_KEY_B64, file: e.AUTH_TOKEN_KEY_FILE },
      accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    },
    dataPlaneTokenKey: { b64: e.DATA_PLANE_TOKEN_KEY_B64, file: e.DATA_PLANE_TOKEN_KEY_FILE },
    dataPlaneTokenTtlSeconds: e.DATA_PLANE_TOKEN_TTL_SECONDS,
  };
  const problems: string[] = [];
  const configured = (k: KeySource) => Boolean(k.b64 || k.file);
  if (cfg.authority.mode === "strict" && !configured(cfg.authority.productRootKey)) {
    problems.push("INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_B64 or _FILE: strict installation authority needs the Product Root public key");
  }
  if (cfg.authority.mode === "strict" && cfg.authority.insecureBootstrap) {
    problems.push("INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: not allowed in strict mode");
  }
  if (cfg.appEnv === "production") {
    if (!cfg.databaseUrl) problems.push("DATABASE_URL: production needs a PostgreSQL server, not the embedded store");
    if (!cfg.redisUrl) problems.push("REDIS_URL: production needs Redis, not the in-process live state");
    if (cfg.authority.mode !== "strict") problems.push("INSTALLATION_AUTHORITY_MODE: production requires strict");
    if (!configured(cfg.secrets.activeKey)) problems.push("SECRET_ENCRYPTION_KEY_B64 or _FILE: production requires a secret encryption key");
    if (!configured(cfg.auth.tokenKey)) problems.push("AUTH_TOKEN_KEY_B64 or _FILE: production requires a token signing key shared by all replicas");
    if (!configured(cfg.dataPlaneTokenKey))
      problems.push("DATA_PLANE_TOKEN_KEY_B64 or _FILE: production requires the data-plane token key shared by all replicas");
  }
  if (problems.length) throw new ConfigInvalid(problems);
  return cfg;
}
