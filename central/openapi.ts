/**
 * The one way a route joins central's user API. `ApiRouter.route()` registers the Hono handler,
 * its OpenAPI entry and its rights rule from one definition: the rule is mandatory (the type
 * has no default, and an unknown rule throws at registration), it is enforced before the
 * handler runs, and it is published as `x-outpost-rights` in the generated document. After
 * every module has mounted, `ApiRouter.check()` compares Hono's actual routes (app.routes)
 * with the document and refuses to start when one is missing on either side.
 *
 * Query and body are validated by the documented zod schemas (400 problem otherwise).
 */
import { z } from "zod";
import { parseQuery } from "../lib/http/query.ts";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { badRequest, readJson, unauthorized } from "../lib/http/problem.ts";
import type { Rights } from "./rights/index.ts";
import { enforceRule, needsSession, ruleDoc, targetInBody, type RightsRule } from "./rights/rules.ts";
import type { ApiEnv } from "./api.ts";
import type { Operations } from "./events/operations.ts";

export type { RightsRule } from "./rights/rules.ts";

type Method = "get" | "post" | "put" | "patch" | "delete";
const METHODS: readonly Method[] = ["get", "post", "put", "patch", "delete"];

/** A JSON schema written by hand (for answers not described by zod, e.g. a $ref). */
type JsonSchema = { $ref: string } | { type: string; [k: string]: unknown };

export interface RouteDef<P extends string = string, Q extends z.ZodObject | undefined = z.ZodObject | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> {
  method: Method;
  /** Hono style: /api/v1/alarms/:id */
  path: P;
  summary: string;
  tag: string;
  /** Who may call it (central/rights/rules.ts). Mandatory. */
  rights: RightsRule;
  query?: Q;
  body?: B;
  /** A body the handler reads itself (e.g. multipart, or a schema it validates with its own message). */
  bodyDoc?: { type: string; schema?: z.ZodType | JsonSchema };
  response?: z.ZodType | JsonSchema;
  status?: number;
  /** For non-JSON answers (e.g. text/event-stream, video/mp4). */
  produces?: string;
}

type In<S> = S extends z.ZodType ? z.infer<S> : undefined;

const isZod = (s: unknown): s is z.ZodType => !!s && typeof s === "object" && "_zod" in s;
const jsonSchema = (s: z.ZodType | JsonSchema, io: "input" | "output") => {
  if (!isZod(s)) return s;
  const { $schema: _s, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};
const json = (schema: unknown) => ({ "application/json": { schema } });
const problem = { description: "Error", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
const secured = [{ bearer: [] }, { cookie: [] }];
export const openApiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

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

/** A sentence for readers of the document; the machine-readable rule is `x-outpost-rights`. */
function describeRule(r: RightsRule): string {
  if ("public" in r) return `Public: ${r.public}`;
  if ("apiKey" in r) return "Integration API key; a site-scoped key acts only on its own site.";
  if ("user" in r) return r.user === "self" ? "Any signed-in user; only about themselves." : "Any signed-in user; filtered to the sites and cameras they may see.";
  const right = r.right === "any" ? "any right" : `the '${r.right}' right`;
  if ("some" in r) return `Needs ${right} on at least one site; filtered to those sites.`;
  if ("site" in r) return `Needs ${right} on the site (${r.site})${r.viaCamera ? ", or a right on one of its cameras (then filtered to those cameras)" : ""}.`;
  if ("camera" in r) return `Needs ${right} on the camera (${r.camera}).`;
  if ("resource" in r) return `Needs ${right} on the ${r.resource}'s camera or site.`;
  return `Needs ${right} for everything ('*').`;
}

function validRule(r: unknown): r is RightsRule {
  if (!r || typeof r !== "object") return false;
  const o = r as Record<string, unknown>;
  if (typeof o.public === "string" && o.public.length > 0) return true;
  if (o.apiKey === "site-scoped" || o.user === "self" || o.user === "filtered") return true;
  return typeof o.right === "string";
}

export class OpenApiRegistry {
  private routes: RouteDef[] = [];
  private exempted: { method: string; path: string; why: string }[] = [];

  add(r: RouteDef): void {
    if (!validRule(r.rights)) throw new Error(`${r.method.toUpperCase()} ${r.path} has no rights rule (central/rights/rules.ts)`);
    if (this.routes.some((x) => x.method === r.method && x.path === r.path)) throw new Error(`${r.method.toUpperCase()} ${r.path} is defined twice`);
    this.routes.push(r);
  }

  /** A non-API route (the web client's pages): kept out of the document on purpose. */
  exempt(method: string, path: string, why: string): void {
    this.exempted.push({ method: method.toUpperCase(), path, why });
  }

  exemptions(): readonly { method: string; path: string; why: string }[] {
    return this.exempted;
  }

  document(): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
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
      if (needsSession(r.rights) || "apiKey" in r.rights) Object.assign(responses, { "401": problem, "403": problem, "404": problem });
      const security = "public" in r.rights ? [] : "apiKey" in r.rights ? [{ apiKey: [] }] : secured;
      const body = r.body ? { required: true, content: json(jsonSchema(r.body, "input")) } : r.bodyDoc ? { required: true, content: { [r.bodyDoc.type]: { schema: r.bodyDoc.schema ? jsonSchema(r.bodyDoc.schema, "input") : {} } } } : null;
      (paths[openApiPath(r.path)] ??= {})[r.method] = {
        summary: r.summary,
        description: describeRule(r.rights),
        tags: [r.tag],
        "x-outpost-rights": ruleDoc(r.rights),
        security,
        ...(params.length ? { parameters: params } : {}),
        ...(body ? { requestBody: body } : {}),
        responses,
      };
    }
    return {
      openapi: "3.1.0",
      info: { title: "Outpost central API", version: "1", description: "Generated from the route definitions; every operation states its rights rule in x-outpost-rights." },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer" },
          cookie: { type: "apiKey", in: "cookie", name: "outpost_session" },
          apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
        },
        schemas: {
          Problem: { type: "object", properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" }, instance: { type: "string" } } },
          CertStatus: certStatus,
          Site: site,
        },
      },
      paths,
    };
  }
}

/** Hono's routes (method, path) that the document does not list, and documented ones Hono does not serve. */
export function routeDrift(app: Hono<never> | Hono<ApiEnv>, reg: OpenApiRegistry): { undocumented: string[]; unserved: string[] } {
  const doc = reg.document() as { paths: Record<string, Record<string, unknown>> };
  const documented = new Set<string>();
  for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${p}`);
  const exempt = new Set(reg.exemptions().map((e) => `${e.method} ${e.path}`));
  const served = new Set<string>();
  for (const r of (app as Hono<ApiEnv>).routes) {
    const key = `${r.method} ${openApiPath(r.path)}`;
    if (exempt.has(`${r.method} ${r.path}`)) continue;
    // app.use middleware (e.g. CSRF, headers) shows as ALL on a wildcard path: not a route.
    if (r.method === "ALL" && r.path.endsWith("*")) continue;
    served.add(key);
  }
  return { undocumented: [...served].filter((k) => !documented.has(k)).sort(), unserved: [...documented].filter((k) => !served.has(k)).sort() };
}

type Handler<P extends string, Q, B> = (c: Context<ApiEnv, P>, input: { query: In<Q>; body: In<B> }) => Response | Promise<Response>;

/** Central's user API as seen by a module: define routes (with their rights rule) and reach operations. */
export class ApiRouter {
  constructor(
    private readonly app: Hono<ApiEnv>,
    /** Requires a logged-in session (sets c.var.session). */
    readonly auth: MiddlewareHandler<ApiEnv>,
    readonly ops: Operations,
  ) {}

  /** API-key routes: 401 before anything else without a known key (the handler reads the key's scope). */
  private apiKey: MiddlewareHandler<ApiEnv> = async (c, next) => {
    const h = c.req.header("authorization");
    const key = c.req.header("x-api-key") ?? (h ? /^ApiKey\s+(\S+)$/i.exec(h)?.[1] : undefined);
    if (!key) throw unauthorized("Send an API key (x-api-key header); an admin creates one with POST /api/v1/api-keys.");
    if (!this.ops.apiKeys.check(key)) throw unauthorized("This API key is unknown or revoked.");
    await next();
  };

  get rights(): Rights {
    return this.ops.rights;
  }

  private middleware(def: RouteDef, bodyLater: boolean): MiddlewareHandler<ApiEnv>[] {
    if ("apiKey" in def.rights) return [this.apiKey];
    if (!needsSession(def.rights)) return [];
    const rule = def.rights;
    const enforce: MiddlewareHandler<ApiEnv> = async (c, next) => {
      if (!bodyLater) await enforceRule(this.ops.rights, rule, c.var.session, c, undefined);
      await next();
    };
    return [this.auth, enforce];
  }

  /** Register a JSON-style handler: rights enforced, query and body validated by the documented schemas. */
  route<P extends string, Q extends z.ZodObject | undefined = undefined, B extends z.ZodType | undefined = undefined>(def: RouteDef<P, Q, B>, handler: Handler<P, Q, B>): void {
    this.ops.openapi.add(def as unknown as RouteDef);
    const bodyLater = targetInBody(def.rights);
    const h = async (c: Context<ApiEnv, P>) => {
      let query: unknown = undefined;
      if (def.query) {
        query = parseQuery(c, def.query);
      }
      const body = def.body ? await readJson(c, def.body as z.ZodType) : undefined;
      if (bodyLater) await enforceRule(this.ops.rights, def.rights, c.var.session, c, body);
      return handler(c, { query: query as In<Q>, body: body as In<B> });
    };
    this.on(def.method, def.path, [...this.middleware(def as unknown as RouteDef, bodyLater), h as never]);
  }

  /** Register raw Hono handlers (e.g. a WebSocket upgrade) behind the rule; the rule must not need the body. */
  handlers<P extends string>(def: RouteDef<P, undefined, undefined> & { before?: MiddlewareHandler<ApiEnv, P>[] }, ...hs: MiddlewareHandler<ApiEnv, P>[]): void {
    if (targetInBody(def.rights)) throw new Error(`${def.path}: raw handlers cannot take their rights target from the body`);
    const { before = [], ...doc } = def;
    this.ops.openapi.add(doc as unknown as RouteDef);
    // `before` runs ahead of authentication (e.g. taking a revocation mark before the check).
    this.on(def.method, def.path, [...(before as never[]), ...this.middleware(doc as unknown as RouteDef, false), ...(hs as never[])]);
  }

  /** Mount something that is not an API route (the web client's pages); it must say which routes it adds. */
  exempt(routes: { method: string; path: string }[], why: string, mount: (app: Hono<ApiEnv>) => void): void {
    for (const r of routes) this.ops.openapi.exempt(r.method, r.path, why);
    mount(this.app);
  }

  private on(method: Method, path: string, hs: unknown[]): void {
    if (!METHODS.includes(method)) throw new Error(`unknown method ${method}`);
    (this.app as unknown as Record<Method, (p: string, ...h: unknown[]) => void>)[method](path, ...hs);
  }

  /** Throws when Hono serves a route the document does not list, or the other way round. */
  check(): void {
    const d = routeDrift(this.app, this.ops.openapi);
    if (d.undocumented.length || d.unserved.length) {
      throw new Error(`central API routes and OpenAPI document differ: ${[...d.undocumented.map((r) => `served but not defined through ApiRouter: ${r}`), ...d.unserved.map((r) => `documented but not served: ${r}`)].join("; ")}`);
    }
  }
}

