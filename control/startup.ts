/**
 * Why the control plane did not start, for the operator: one line with the
 * cause and the fix, and the exit code (2: the configuration is wrong, 1: the
 * environment is, e.g. a server that is down). http/main.ts prints the line;
 * the driver's own error stays on `cause` for the JSON log. The errors are
 * told apart by their codes (Node's, PostgreSQL's SQLSTATE, Redis's reply
 * prefix), so nothing here imports a driver.
 */
import { redactUrl } from "../core/urls.ts";

export class StartupRefused extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StartupRefused";
  }
}

interface Failure {
  code?: unknown;
  message?: unknown;
}

const codeOf = (err: unknown) => String((err as Failure)?.code ?? "");
/** The driver's message on one line, without a trailing period. */
const messageOf = (err: unknown) =>
  String((err as Failure)?.message ?? err)
    .replace(/\s+/g, " ")
    .trim()
    .replace(/\.$/, "");
const hostOf = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};
const userOf = (url: string) => {
  try {
    return decodeURIComponent(new URL(url).username) || "(none)";
  } catch {
    return "(none)";
  }
};
const databaseOf = (url: string) => {
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)) || "(default)";
  } catch {
    return "(default)";
  }
};

/** Network errors shared by PostgreSQL and Redis: refused, unknown host, timed out, unreachable. */
function networkFailure(what: string, variable: string, url: string, err: unknown, start: string): StartupRefused | undefined {
  const code = codeOf(err);
  const where = `${what} at ${redactUrl(url)}`;
  switch (code) {
    case "ECONNREFUSED":
      return new StartupRefused(`${where} refused the connection (ECONNREFUSED); fix: ${start}, or correct ${variable}`, 1, { cause: err });
    case "ENOTFOUND":
      return new StartupRefused(`${what} host ${hostOf(url)} not found (ENOTFOUND); fix: correct the host in ${variable}`, 2, { cause: err });
    case "EAI_AGAIN":
      return new StartupRefused(`${what} host ${hostOf(url)} could not be resolved now (EAI_AGAIN); fix: check DNS, then start again`, 1, {
        cause: err,
      });
    case "ETIMEDOUT":
    case "CONNECT_TIMEOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new StartupRefused(`${where} is unreachable (${code}); fix: check the host and port in ${variable} and the network or firewall between`, 1, {
        cause: err,
      });
    case "ECONNRESET":
    case "EPIPE":
      return new StartupRefused(
        `${where} closed the connection (${code}); fix: check that ${variable} points at ${what} (not another service) and its TLS settings`,
        1,
        { cause: err },
      );
  }
  return undefined;
}

/** The database did not open: DATABASE_URL's server, or the embedded store under DATA_DIR. */
export function databaseFailure(err: unknown, cfg: { databaseUrl?: string; dataDir: string }): StartupRefused {
  if (!cfg.databaseUrl) {
    return new StartupRefused(
      `the embedded database under ${cfg.dataDir}/pglite did not open: ${messageOf(err)}; fix: check that DATA_DIR is writable and not used by another control plane (move ${cfg.dataDir}/pglite away to start with an empty one), or set DATABASE_URL`,
      1,
      { cause: err },
    );
  }
  const url = cfg.databaseUrl;
  const net = networkFailure("PostgreSQL", "DATABASE_URL", url, err, "start PostgreSQL there");
  if (net) return net;
  const code = codeOf(err);
  const server = messageOf(err);
  switch (code) {
    case "28P01":
      return new StartupRefused(
        `PostgreSQL at ${hostOf(url)} refused the password of user ${userOf(url)} (28P01: ${server}); fix: correct the user and password in DATABASE_URL`,
        2,
        { cause: err },
      );
    case "28000":
      return new StartupRefused(
        `PostgreSQL at ${hostOf(url)} refused user ${userOf(url)} (28000: ${server}); fix: create the role, allow it in pg_hba.conf, or correct the user in DATABASE_URL`,
        2,
        { cause: err },
      );
    case "3D000":
      return new StartupRefused(
        `PostgreSQL at ${hostOf(url)} has no database ${databaseOf(url)} (3D000); fix: create it (createdb ${databaseOf(url)}) or correct the database name in DATABASE_URL`,
        2,
        { cause: err },
      );
    case "53300":
    case "57P03":
      return new StartupRefused(
        `PostgreSQL at ${hostOf(url)} cannot take a connection now (${code}: ${server}); fix: wait for it or raise max_connections, then start again`,
        1,
        {
          cause: err,
        },
      );
  }
  if (/^[0-9A-Z]{5}$/.test(code))
    return new StartupRefused(`PostgreSQL at ${hostOf(url)} refused the connection (${code}: ${server}); fix: see the PostgreSQL server log`, 1, {
      cause: err,
    });
  return new StartupRefused(
    `PostgreSQL at ${redactUrl(url)} could not be used: ${server}${code ? ` (${code})` : ""}; fix: check DATABASE_URL (postgres://user:password@host:5432/database) and that PostgreSQL answers there`,
    1,
    { cause: err },
  );
}

/** Redis did not answer a first PING. */
export function liveStateFailure(err: unknown, redisUrl: string): StartupRefused {
  const net = networkFailure("Redis", "REDIS_URL", redisUrl, err, "start Redis there");
  if (net) return net;
  const reply = messageOf(err);
  if (/^(NOAUTH|WRONGPASS)\b/.test(reply) || /^ERR.*\bAUTH\b/.test(reply))
    return new StartupRefused(
      `Redis at ${hostOf(redisUrl)} refused to authenticate (${reply.split(" ")[0]}: ${reply.slice(reply.indexOf(" ") + 1, 120)}); fix: put the right user and password in REDIS_URL (redis://user:password@host:6379)`,
      2,
      { cause: err },
    );
  return new StartupRefused(
    `Redis at ${redactUrl(redisUrl)} could not be used: ${reply}; fix: check REDIS_URL (redis://host:6379) and that Redis answers there, or unset it for in-process live state (one replica only)`,
    1,
    { cause: err },
  );
}

/** DATA_DIR could not be made or tightened to 0700. */
export function dataDirFailure(err: unknown, dataDir: string): StartupRefused {
  const code = codeOf(err);
  const why =
    code === "EEXIST" || code === "ENOTDIR" ? "is not a directory" : code === "EACCES" || code === "EPERM" ? "is not ours to write" : "cannot be used";
  return new StartupRefused(`DATA_DIR ${dataDir} ${why} (${code || messageOf(err)}); fix: point DATA_DIR at a directory this user can create or owns`, 2, {
    cause: err,
  });
}

/** The HTTP server (core/runtime serve) could not listen on HOST:PORT. */
export function listenFailure(err: unknown, host: string, port: number): StartupRefused {
  const code = codeOf(err);
  const at = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch (code) {
    case "EADDRINUSE":
      return new StartupRefused(
        `cannot listen on ${at}: the port is in use (EADDRINUSE); fix: stop what uses it (ss -ltnp 'sport = :${port}') or choose another PORT (PORT=0 picks a free one)`,
        1,
        { cause: err },
      );
    case "EADDRNOTAVAIL":
      return new StartupRefused(
        `cannot listen on ${at}: ${host} is not an address of this host (EADDRNOTAVAIL); fix: set HOST to a local address (127.0.0.1, or 0.0.0.0 for every interface)`,
        2,
        { cause: err },
      );
    case "EACCES":
    case "EPERM":
      return new StartupRefused(`cannot listen on ${at}: not allowed (${code}); fix: choose a PORT above 1023 or grant the capability to bind it`, 2, {
        cause: err,
      });
  }
  return new StartupRefused(`cannot listen on ${at}: ${messageOf(err)}${code ? ` (${code})` : ""}; fix: check HOST and PORT`, 1, { cause: err });
}
