/**
 * Structured logging: JSON lines (level, component, camera, message, fields) on stderr, or a
 * readable single-line form when stderr is a terminal. Secret-looking fields are redacted
 * here, once, so no caller can leak a password or key into a log by accident.
 */
export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogRecord {
  t: string;
  level: Level;
  component: string;
  msg: string;
  [field: string]: unknown;
}

export interface LogSink {
  write(rec: LogRecord): void;
}

export interface LoggerOptions {
  component: string;
  level?: Level;
  sink?: LogSink;
  fields?: Record<string, unknown>;
}

/** Field-name words that mark a secret wherever they appear (apiToken, db_password, setCookie, …). */
const SECRET_WORDS = new Set(["password", "passwd", "passphrase", "pass", "pwd", "secret", "secrets", "token", "tokens", "authorization", "cookie", "cookies", "credential", "credentials", "privatekey", "apikey"]);
/** "<word> key" pairs that are key material (privateKey, api_key, x-api-key, secretKey, …); a bare `key` is an id. */
const KEY_PREFIXES = new Set(["private", "api", "secret", "access", "session", "signing", "encryption", "client", "ca"]);

/**
 * Whether a field name looks like it holds a secret. Names are split into words (camelCase,
 * snake_case, kebab-case) so that `key` — the stream key of live logs, a map key — stays
 * readable while `privateKey`, `apiKey` and `keyPem` are redacted.
 */
export function isSecretField(name: string): boolean {
  const w = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (w.some((x) => SECRET_WORDS.has(x))) return true;
  for (let i = 0; i + 1 < w.length; i++) {
    if (w[i + 1] === "key" && KEY_PREFIXES.has(w[i]!)) return true;
    if (w[i] === "key" && (w[i + 1] === "pem" || w[i + 1] === "der")) return true;
  }
  return false;
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (isSecretField(k)) out[k] = "[redacted]";
    else if (v instanceof Error) out[k] = v.message;
    else if (typeof v === "string") out[k] = redactUrl(v);
    else out[k] = v;
  }
  return out;
}

/** rtsp://user:pass@host → rtsp://user:***@host */
export function redactUrl(s: string): string {
  return s.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@/\s]+@/gi, "$1***@");
}

export class Logger {
  readonly component: string;
  private readonly level: Level;
  private readonly sink: LogSink;
  private readonly fields: Record<string, unknown>;

  constructor(opts: LoggerOptions) {
    this.component = opts.component;
    // An explicit sink (tests, collectors) gets every record unless a level is given.
    this.level = opts.level ?? (opts.sink ? "debug" : envLevel());
    this.sink = opts.sink ?? defaultSink;
    this.fields = opts.fields ?? {};
  }

  /** A logger for a sub-component or a camera; fields are added to every record. */
  child(fields: { component?: string; [k: string]: unknown }): Logger {
    const { component, ...rest } = fields;
    return new Logger({
      component: component ?? this.component,
      level: this.level,
      sink: this.sink,
      fields: { ...this.fields, ...rest },
    });
  }

  /** This logger, also writing every record to `extra` (central's persistent system log tees this way). */
  tee(extra: LogSink): Logger {
    const first = this.sink;
    return new Logger({
      component: this.component,
      level: this.level,
      fields: this.fields,
      sink: {
        write(rec) {
          first.write(rec);
          extra.write(rec);
        },
      },
    });
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log("error", msg, fields);
  }

  log(level: Level, msg: string, fields?: Record<string, unknown>): void {
    if (order[level] < order[this.level]) return;
    this.sink.write({
      t: new Date().toISOString(),
      level,
      component: this.component,
      msg: redactUrl(msg),
      ...redact({ ...this.fields, ...fields }),
    });
  }
}

function envLevel(): Level {
  const l = process.env.OUTPOST_LOG_LEVEL;
  return l === "debug" || l === "info" || l === "warn" || l === "error" ? l : "info";
}

export const jsonSink: LogSink = {
  write(rec) {
    process.stderr.write(JSON.stringify(rec) + "\n");
  },
};

export const prettySink: LogSink = {
  write(rec) {
    const { t, level, component, msg, ...rest } = rec;
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    process.stderr.write(`${t.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${component} ${msg}${extra ? " " + extra : ""}\n`);
  },
};

/** Collects records in memory; for tests that assert what was logged. */
export class MemorySink implements LogSink {
  readonly records: LogRecord[] = [];
  write(rec: LogRecord): void {
    this.records.push(rec);
  }
}

const defaultSink: LogSink =
  process.env.OUTPOST_LOG_FORMAT === "json" || (!process.stderr.isTTY && process.env.OUTPOST_LOG_FORMAT !== "pretty")
    ? jsonSink
    : prettySink;

export function createLogger(component: string, fields?: Record<string, unknown>): Logger {
  return new Logger({ component, fields });
}
