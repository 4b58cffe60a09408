/**
 * Configuration files for every role: YAML or TOML, validated by a zod schema, with
 * environment overrides (OUTPOST_<PATH> where PATH is the key path joined by "__", e.g.
 * OUTPOST_API__PORT=8443 sets api.port). A bad config throws ConfigError naming the key and
 * the problem, so a process never starts half-configured. Strings obey the text rule
 * (lib/text.ts: no NUL or other control characters).
 */
import { z } from "zod";
import { findBadText } from "../text.ts";

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`invalid config (${source}):\n` + issues.map((i) => `  ${i.path || "(root)"}: ${i.message}`).join("\n"));
    this.name = "ConfigError";
  }
}

export interface LoadConfigOptions {
  /** Path to a .yaml/.yml/.toml/.json file; omitted = defaults + environment only. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Environment variable prefix; default "OUTPOST_". */
  envPrefix?: string;
}

export async function loadConfig<S extends z.ZodType>(schema: S, opts: LoadConfigOptions = {}): Promise<z.infer<S>> {
  let raw: unknown = {};
  const source = opts.file ?? "defaults";
  if (opts.file) {
    const f = Bun.file(opts.file);
    if (!(await f.exists())) throw new ConfigError(opts.file, [{ path: "", message: "file not found" }]);
    const text = await f.text();
    // An empty file is a mistake (truncated copy, wrong path), not "all defaults": a recorder
    // with no camera would start and serve nothing.
    if (!text.trim()) throw new ConfigError(opts.file, [{ path: "", message: "the file is empty; write at least the settings you need (e.g. cameras)" }]);
    raw = parseConfigText(text, opts.file);
  }
  return validateConfig(schema, applyEnv(raw, opts.env ?? process.env, opts.envPrefix ?? "OUTPOST_"), source);
}

export function parseConfigText(text: string, name: string): unknown {
  try {
    if (/\.toml$/i.test(name)) return Bun.TOML.parse(text);
    if (/\.json$/i.test(name)) return JSON.parse(text);
    return Bun.YAML.parse(text) ?? {};
  } catch (e) {
    throw new ConfigError(name, [{ path: "", message: `cannot parse: ${(e as Error).message}` }]);
  }
}

export function validateConfig<S extends z.ZodType>(schema: S, raw: unknown, source: string): z.infer<S> {
  const bad = findBadText(raw);
  if (bad) throw new ConfigError(source, [{ path: bad.path, message: bad.message }]);
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      source,
      r.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
    );
  }
  return r.data;
}

function applyEnv(raw: unknown, env: Record<string, string | undefined>, prefix: string): unknown {
  const root: Record<string, unknown> = isObject(raw) ? structuredClone(raw) : {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || value === undefined) continue;
    const rest = name.slice(prefix.length);
    if (!rest.includes("__") && !/^[A-Z0-9_]+$/.test(rest)) continue;
    // Only double-underscore paths are config keys; OUTPOST_LOG_LEVEL etc. are process settings.
    if (!rest.includes("__") && ["LOG_LEVEL", "LOG_FORMAT", "START_TRACE"].includes(rest)) continue;
    const path = rest.split("__").map(camel);
    let node = root;
    for (const key of path.slice(0, -1)) {
      if (!isObject(node[key])) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]!] = parseScalar(value);
  }
  return root;
}

function camel(s: string): string {
  return s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseScalar(v: string): unknown {
  try {
    return Bun.YAML.parse(v);
  } catch {
    return v;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
