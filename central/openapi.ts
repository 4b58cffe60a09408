/** OpenAPI 3.1 description of central's user API as delivered by the trust issue (hand-written). */
const problem = { description: "Error", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
const certStatus = {
  type: "object",
  properties: {
    kind: { enum: ["ca", "server", "site"] },
    subject: { type: "string" },
    serial: { type: "string" },
    notBefore: { type: "string", format: "date-time" },
    notAfter: { type: "string", format: "date-time" },
    daysLeft: { type: "number" },
    warning: { type: "boolean", description: "expires within pki.expiryWarningDays (default 14)" },
  },
};
const site = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    state: { enum: ["active", "revoked"] },
    online: { type: "boolean" },
    enrolledAt: { type: "string", format: "date-time" },
    revokedAt: { type: ["string", "null"], format: "date-time" },
    lastSeenAt: { type: ["string", "null"], format: "date-time" },
    certificate: { oneOf: [{ $ref: "#/components/schemas/CertStatus" }, { type: "null" }] },
    pendingCertificate: { oneOf: [{ $ref: "#/components/schemas/CertStatus" }, { type: "null" }] },
    warnings: { type: "array", items: { type: "string" } },
  },
};
const json = (schema: unknown) => ({ "application/json": { schema } });
const secured = [{ bearer: [] }, { cookie: [] }];

export const openapi = {
  openapi: "3.1.0",
  info: { title: "Outpost central API", version: "1" },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer" },
      cookie: { type: "apiKey", in: "cookie", name: "outpost_session" },
    },
    schemas: {
      Problem: { type: "object", properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" }, instance: { type: "string" } } },
      CertStatus: certStatus,
      Site: site,
    },
  },
  paths: {
    "/api/v1/login": {
      post: {
        summary: "Log in; returns a bearer token and sets an HttpOnly session cookie",
        requestBody: { content: json({ type: "object", required: ["user", "password"], properties: { user: { type: "string" }, password: { type: "string" } } }) },
        responses: { "200": { description: "Session", content: json({ type: "object", properties: { token: { type: "string" }, user: { type: "string" }, role: { type: "string" }, expiresAt: { type: "string", format: "date-time" } } }) }, "401": problem, "400": problem },
      },
    },
    "/api/v1/enrollment-tokens": {
      post: {
        summary: "Create a single-use, expiring enrollment token for a new site",
        security: secured,
        requestBody: { content: json({ type: "object", required: ["site"], properties: { site: { type: "string", description: "site name" }, ttlHours: { type: "number", default: 24 } } }) },
        responses: {
          "201": { description: "Token (shown once)", content: json({ type: "object", properties: { token: { type: "string" }, tokenId: { type: "string" }, siteId: { type: "string" }, siteName: { type: "string" }, expiresAt: { type: "string", format: "date-time" }, enrollUrl: { type: "string" }, command: { type: "string" } } }) },
          "400": problem,
          "401": problem,
        },
      },
    },
    "/api/v1/sites": { get: { summary: "Enrolled sites with online state and certificate expiry", security: secured, responses: { "200": { description: "Sites", content: json({ type: "object", properties: { sites: { type: "array", items: { $ref: "#/components/schemas/Site" } } } }) }, "401": problem } } },
    "/api/v1/sites/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: { summary: "One site", security: secured, responses: { "200": { description: "Site", content: json({ $ref: "#/components/schemas/Site" }) }, "404": problem, "401": problem } },
      delete: { summary: "Revoke a site: its sessions are closed within seconds and its certificates refused from then on", security: secured, parameters: [{ name: "reason", in: "query", schema: { type: "string" } }], responses: { "200": { description: "Revoked site", content: json({ $ref: "#/components/schemas/Site" }) }, "404": problem, "401": problem } },
    },
    "/api/v1/health": {
      get: {
        summary: "This process: certificates with expiry (warning 14 days before), site counts",
        responses: { "200": { description: "Health", content: json({ type: "object", properties: { status: { enum: ["ok", "warning"] }, time: { type: "string" }, certificates: { type: "array", items: { $ref: "#/components/schemas/CertStatus" } }, warnings: { type: "array", items: { type: "string" } }, sites: { type: "object" } } }) } },
      },
    },
    "/api/v1/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
  },
} as const;

/*
 * Routes added after the trust issue are described by the zod schemas that validate them:
 * `route()` registers the Hono handler and its OpenAPI entry from the same schemas, and
 * `OpenApiRegistry.document()` merges those entries into the hand-written document above.
 */
import { z } from "zod";
import type { Context, Env, Hono, MiddlewareHandler } from "hono";
import { readJson } from "../lib/http/problem.ts";
import { parseQuery } from "../lib/http/query.ts";

type Method = "get" | "post" | "put" | "patch" | "delete";

export interface RouteDoc<Q extends z.ZodObject | undefined = z.ZodObject | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> {
  method: Method;
  /** Hono style: /api/v1/alarms/:id */
  path: string;
  summary: string;
  tag: string;
  /** session (default), api-key or none */
  auth?: "session" | "api-key" | "none";
  /** The right it needs, for the reader (enforced by the middleware given to route()). */
  right?: string;
  query?: Q;
  body?: B;
  response?: z.ZodType;
  status?: number;
  /** For non-JSON answers (e.g. text/event-stream). */
  produces?: string;
}

type In<S> = S extends z.ZodType ? z.infer<S> : undefined;

const jsonSchema = (s: z.ZodType, io: "input" | "output") => {
  const { $schema: _s, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};

export class OpenApiRegistry {
  private routes: RouteDoc[] = [];

  add(r: RouteDoc): void {
    this.routes.push(r);
  }

  document(): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = structuredClone(openapi.paths) as unknown as Record<string, Record<string, unknown>>;
    for (const r of this.routes) {
      const p = r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      const params: unknown[] = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
      if (r.query) {
        for (const [name, s] of Object.entries(r.query.shape as Record<string, z.ZodType>)) {
          params.push({ name, in: "query", required: !s.safeParse(undefined).success, schema: jsonSchema(s, "input") });
        }
      }
      const status = String(r.status ?? 200);
      const responses: Record<string, unknown> = {
        [status]: { description: "OK", ...(r.produces ? { content: { [r.produces]: { schema: { type: "string" } } } } : r.response ? { content: json(jsonSchema(r.response, "output")) } : {}) },
        "400": problem,
      };
      if (r.auth !== "none") Object.assign(responses, { "401": problem, "403": problem, "404": problem });
      const security = r.auth === "none" ? [] : r.auth === "api-key" ? [{ apiKey: [] }] : secured;
      (paths[p] ??= {})[r.method] = {
        summary: r.summary,
        tags: [r.tag],
        ...(r.right ? { description: `Needs the '${r.right}' right.` } : {}),
        security,
        ...(params.length ? { parameters: params } : {}),
        ...(r.body ? { requestBody: { required: true, content: json(jsonSchema(r.body, "input")) } } : {}),
        responses,
      };
    }
    return {
      ...openapi,
      components: { ...openapi.components, securitySchemes: { ...openapi.components.securitySchemes, apiKey: { type: "apiKey", in: "header", name: "x-api-key" } } },
      paths,
    };
  }
}

/** Register a handler and its OpenAPI entry; the query and body are validated by the documented schemas (400 problem otherwise). */
export function route<E extends Env, Q extends z.ZodObject | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  app: Hono<E>,
  reg: OpenApiRegistry,
  doc: RouteDoc<Q, B>,
  mw: MiddlewareHandler<E>[],
  handler: (c: Context<E>, input: { query: In<Q>; body: In<B> }) => Response | Promise<Response>,
): void {
  reg.add(doc as RouteDoc);
  const h = async (c: Context<E>) => {
    let query: unknown = undefined;
    if (doc.query) {
      query = parseQuery(c, doc.query);
    }
    const body = doc.body ? await readJson(c, doc.body as z.ZodType) : undefined;
    return handler(c, { query: query as In<Q>, body: body as In<B> });
  };
  (app as unknown as Record<Method, (p: string, ...h: unknown[]) => void>)[doc.method](doc.path, ...mw, h);
}
