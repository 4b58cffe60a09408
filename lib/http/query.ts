/**
 * Query-string parameters for every HTTP API (edge and central). Numbers and times are
 * checked against what the code and the database can hold — a value that only fails at the
 * SQL bind (int64) or in Date#toISOString is a 500 — and every value against the text rule
 * (lib/text.ts). Failures are 400 problem+json naming the parameter.
 */
import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { textProblem } from "../text.ts";
import { badRequest, type HttpProblem } from "./problem.ts";

/** 9999-12-31T23:59:59.999Z: every time an API accepts prints as a four-digit-year ISO string. */
export const MAX_TIME_MS = 253_402_300_799_999;

/**
 * An integer query parameter: plain decimal digits (optional leading '-'), within [min, max]
 * (default: the safe-integer range, which fits BIGINT). "1e3", "0x10", " 5" and "" are refused.
 */
export function intQuery(o: { min?: number; max?: number } = {}) {
  const min = o.min ?? Number.MIN_SAFE_INTEGER;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  return z
    .string()
    .regex(/^-?\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

/** A time query parameter: ISO 8601 with a timezone, or milliseconds since 1970; 1970…9999. */
export function timeQuery() {
  return z
    .string()
    .transform((v, ctx) => {
      const t = /^\d+$/.test(v) ? Number(v) : /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : NaN;
      if (!Number.isFinite(t) || t < 0 || t > MAX_TIME_MS) {
        ctx.addIssue({ code: "custom", message: "must be an ISO 8601 time (e.g. 2026-01-01T00:00:00Z) or milliseconds since 1970, between 1970 and 9999" });
        return z.NEVER;
      }
      return t;
    });
}

type Issue = { path: PropertyKey[]; message: string; code?: string };

/** The 400 for failed query parameters: the detail names the first one, `errors` lists all. */
export function queryProblem(issues: Issue[]): HttpProblem {
  const i = issues[0]!;
  const name = i.path.map(String).join(".");
  const detail =
    i.code === "invalid_type" && name
      ? `The query parameter '${name}' is required.`
      : i.message.startsWith(name) // the schema's message already names it
        ? `${i.message}.`
        : `The query parameter '${name}' ${i.message}.`;
  return badRequest(detail, { errors: issues.map((x) => ({ path: x.path.map(String).join("."), message: x.message })) });
}

/** Every query value must be acceptable text (checked before any schema). */
export function checkQueryText(c: Context): Record<string, string> {
  const q = c.req.query();
  for (const [k, v] of Object.entries(q)) {
    const kp = textProblem(k);
    const p = kp ? `has a name that ${kp}` : textProblem(v);
    if (p) throw queryProblem([{ path: [k], message: p }]);
  }
  return q;
}

/** Validates the whole query string against a zod object schema. */
export function parseQuery<T>(c: Context, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Issue[] } } }): T {
  const r = schema.safeParse(checkQueryText(c));
  if (r.success) return r.data;
  throw queryProblem(r.error.issues);
}

/** One parameter, for handlers that read a few by name; `fallback` when absent. */
export function queryParam<T>(c: Context, name: string, schema: z.ZodType<T>, fallback: T): T {
  const q = checkQueryText(c);
  const v = q[name];
  if (v === undefined) return fallback;
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  throw queryProblem(r.error.issues.map((i) => ({ ...i, path: [name, ...i.path] })));
}

/**
 * Middleware for a whole app: the decoded path and every query value obey the text rule, so a
 * route that reads a parameter by hand never sees a NUL or other control character.
 */
export const textGuard: MiddlewareHandler = async (c, next) => {
  let path = c.req.path;
  try {
    path = decodeURIComponent(path);
  } catch {
    // Malformed percent-encoding: left to the router (404) and the routes.
  }
  const p = textProblem(path);
  if (p) throw badRequest(`The request path ${p}.`);
  checkQueryText(c);
  await next();
};
