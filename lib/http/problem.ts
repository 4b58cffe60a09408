/**
 * application/problem+json (RFC 9457) errors for every HTTP API. Handlers throw HttpProblem;
 * onProblem turns it (and anything else thrown) into a response with a sentence a person
 * understands. Internal errors are logged with detail but answered generically.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "../log/index.ts";
import { findBadText } from "../text.ts";

export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
    this.name = "HttpProblem";
  }
}

export const badRequest = (detail: string, extra?: Record<string, unknown>) =>
  new HttpProblem(400, "Bad request", detail, extra);
export const unauthorized = (detail = "Log in first.") => new HttpProblem(401, "Unauthorized", detail);
export const forbidden = (detail = "You do not have the right to do this.") => new HttpProblem(403, "Forbidden", detail);
export const notFound = (detail: string) => new HttpProblem(404, "Not found", detail);
export const conflict = (detail: string) => new HttpProblem(409, "Conflict", detail);
export const unsupportedMediaType = (detail: string) => new HttpProblem(415, "Unsupported media type", detail);

/** application/json or any +json type (a page on another site cannot send these without a CORS preflight). */
export function isJsonType(contentType: string | null | undefined): boolean {
  const t = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return t === "application/json" || (t.startsWith("application/") && t.endsWith("+json"));
}

export function problemResponse(p: HttpProblem, instance?: string): Response {
  return new Response(
    JSON.stringify({ type: "about:blank", title: p.title, status: p.status, detail: p.detail, instance, ...p.extra }),
    { status: p.status, headers: { "content-type": "application/problem+json" } },
  );
}

/** What a client is told to wait before it tries again while a server shuts down (s). */
export const SHUTDOWN_RETRY_AFTER_S = 5;

/** 503 with Retry-After for a request that arrived, or was cut short, while the server shuts down (lib/http/drain.ts). */
export function shuttingDownResponse(instance?: string): Response {
  const res = problemResponse(new HttpProblem(503, "Service unavailable", "The server is shutting down; try again shortly."), instance);
  res.headers.set("retry-after", String(SHUTDOWN_RETRY_AFTER_S));
  return res;
}

/**
 * Hono onError handler. `draining` (HttpDrain): while the server shuts down, a failure is most
 * likely a database closed under the request; it is answered 503 and logged as such, not as an
 * unhandled error.
 */
export function onProblem(log: Logger, o: { draining?: () => boolean } = {}) {
  return (err: Error, c: Context): Response => {
    if (err instanceof HttpProblem) return problemResponse(err, c.req.path);
    if (err instanceof SyntaxError) return problemResponse(badRequest(`Malformed JSON body: ${err.message}`), c.req.path);
    if (o.draining?.()) {
      log.info("request cut short by shutdown", { path: c.req.path, method: c.req.method, err: err.message });
      return shuttingDownResponse(c.req.path);
    }
    log.error("unhandled error in request", { path: c.req.path, method: c.req.method, err: err.stack ?? err.message });
    return problemResponse(new HttpProblem(500, "Internal error", "The server failed to handle this request; it is logged."), c.req.path);
  };
}

/** Hono notFound handler. */
export function onNotFound(c: Context): Response {
  return problemResponse(notFound(`No such endpoint: ${c.req.method} ${c.req.path}`), c.req.path);
}

/** 400 naming the field when any string (or key) in a parsed JSON body breaks the text rule. */
export function assertText(body: unknown): void {
  const bad = findBadText(body);
  if (bad) throw badRequest(`${bad.path || "body"}: ${bad.message}`, { errors: [{ path: bad.path, message: bad.message }] });
}

/**
 * The request's JSON body: 415 unless sent as application/json (or +json), 400 when it does not
 * parse or when any string (or key) breaks the text rule (lib/text.ts).
 */
export async function jsonBody(c: Context): Promise<unknown> {
  const type = c.req.header("content-type");
  if (!isJsonType(type)) throw unsupportedMediaType(`Send the body as JSON with 'Content-Type: application/json'${type ? `, not ${type.split(";")[0]}` : ""}.`);
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (e) {
    throw badRequest(`Malformed JSON body: ${(e as Error).message}`);
  }
  assertText(body);
  return body;
}

/** Parse a JSON body against a zod schema, answering 400 with the failing field on error. */
export async function readJson<T>(c: Context, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }): Promise<T> {
  const body = await jsonBody(c);
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badRequest(`${i.path.map(String).join(".") || "body"}: ${i.message}`, {
      errors: r.error.issues.map((x) => ({ path: x.path.map(String).join("."), message: x.message })),
    });
  }
  return r.data;
}
