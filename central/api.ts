/**
 * Central's user-facing HTTP API (Bun.serve + Hono): login, enrollment tokens, sites,
 * revocation, health and the OpenAPI document. Every route is defined through ApiRouter
 * (central/openapi.ts) with its rights rule; other modules add theirs through startCentral's
 * `apiRoutes` hook, and the app refuses to start when Hono serves a route the generated
 * document does not list. Sessions come from POST /api/v1/login (bearer token or the cookie).
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import { HttpProblem, forbidden, notFound, onNotFound, onProblem, problemResponse, readJson, unauthorized } from "../lib/http/problem.ts";
import { textGuard } from "../lib/http/query.ts";
import { getConnInfo } from "hono/bun";
import { ApiRouter } from "./openapi.ts";
import type { Operations } from "./events/operations.ts";
import type { Logger } from "../lib/log/index.ts";
import type { Clock } from "../lib/clock.ts";
import type { Session, Users } from "./users/index.ts";
import type { Trust } from "./trust.ts";
import { sameOriginOnly } from "../lib/http/origin.ts";
import { DeniedAccessAudit } from "./audit/denied.ts";

export type ApiEnv = { Variables: { session: Session } };

export const SESSION_COOKIE = "outpost_session";

const Login = z.object({ user: z.string().min(1).max(100), password: z.string().min(1).max(1000) });
const TokenRequest = z.object({ site: z.string().trim().min(1).max(200), ttlHours: z.number().positive().max(720).optional() });

export function requireUser(users: Users, role?: string): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const h = c.req.header("authorization");
    const token = h?.toLowerCase().startsWith("bearer ") ? h.slice(7).trim() : getCookie(c, SESSION_COOKIE);
    if (!token) throw unauthorized("Log in first (POST /api/v1/login) and send the token as 'Authorization: Bearer …'.");
    const s = await users.authenticate(token);
    if (!s) throw unauthorized("Your session is unknown or has expired; log in again.");
    if (role && !s.roles.includes(role)) throw forbidden();
    c.set("session", s);
    await next();
  };
}

export interface ApiDeps {
  /** True while central shuts down (lib/http/drain.ts): a failing request is then answered 503, not 500. */
  draining?: () => boolean;
  ops: Operations;
  users: Users;
  trust: Trust;
  clock: Clock;
  log: Logger;
  sessionTtlMs: number;
  /** Origins besides central's own that may send state-changing requests (api.allowedOrigins). */
  allowedOrigins?: readonly string[];
  urls: () => { enrollUrl: string; federationUrl: string; mqttUrl: string };
  /**
   * Resolves once the shared presence (sites other nodes own) is as fresh as its periodic read
   * keeps it, reading it now after idleness (central/cluster/presence.ts: the read is on demand).
   * Awaited before every GET of the user API but liveness and the API document.
   */
  presenceFresh?: () => Promise<void>;
  /** Other modules' routes, defined through the router (each with its rights rule). */
  mount?: (r: ApiRouter) => void;
  /** Extra fields for GET /api/v1/sites/{id} (control plane: health, config, cameras). */
  siteDetails?: (siteId: string) => Promise<Record<string, unknown>>;
}

/** GET routes that answer no site's presence: they never wake the shared presence read. */
const NOT_LOOKING = new Set(["/api/v1/health", "/api/v1/openapi.json"]);
const Ok = z.object({ status: z.enum(["ok", "warning"]), time: z.string() });
const SiteRef = { $ref: "#/components/schemas/Site" } as const;
const SessionView = z.object({ token: z.string(), user: z.string(), role: z.string(), roles: z.array(z.string()), expiresAt: z.string() });
const TokenView = z.object({ token: z.string(), tokenId: z.string(), siteId: z.string(), siteName: z.string(), expiresAt: z.string(), enrollUrl: z.string(), command: z.string() });
const RevokeQuery = z.object({ reason: z.string().max(500).optional() });

export function apiApp(d: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const rights = d.ops.rights;
  const audit = d.ops.audit;
  const denied = new DeniedAccessAudit((a) => audit.record(a), d.clock);
  const problem = onProblem(d.log, { draining: d.draining });
  app.onError((err, c) => {
    // Failed logins are audited as login-failed by the login route itself.
    if (err instanceof HttpProblem && (err.status === 401 || err.status === 403) && c.req.path !== "/api/v1/login") {
      denied.note({ user: (c.var as { session?: Session }).session?.user ?? null, client: clientOf(c), method: c.req.method, path: c.req.path, status: err.status, reason: err.detail ?? err.title });
    }
    return problem(err, c);
  });
  app.notFound(onNotFound);
  app.use("*", sameOriginOnly({ cookieName: SESSION_COOKIE, allowedOrigins: d.allowedOrigins }));
  app.use("*", textGuard);
  const presenceFresh = d.presenceFresh;
  // Load balancers poll liveness all day: that is nobody looking at the fleet.
  if (presenceFresh) app.use("/api/*", async (c, next) => (c.req.method === "GET" && !NOT_LOOKING.has(c.req.path) && (await presenceFresh()), next()));
  const auth = requireUser(d.users);
  const api = new ApiRouter(app, auth, d.ops);
  const tag = "central";

  api.route({ method: "get", path: "/api/v1/openapi.json", summary: "This document", tag, rights: { public: "describes the API; holds no data" } }, (c) => c.json(d.ops.openapi.document()));

  api.route({ method: "post", path: "/api/v1/login", summary: "Log in; returns a bearer token and sets an HttpOnly session cookie", tag, rights: { public: "the way in; throttled per user and client" }, body: Login, response: SessionView }, async (c, { body: b }) => {
    const client = clientOf(c);
    const r = await d.users.login(b.user, b.password, client);
    if (r.kind === "throttled") {
      audit.record({ user: b.user, action: "login-failed", outcome: "denied", detail: { client, reason: "throttled" } });
      const res = problemResponse(new HttpProblem(429, "Too many requests", `Too many failed logins; try again in ${Math.ceil(r.retryAfterMs / 1000)} s.`), c.req.path);
      res.headers.set("retry-after", String(Math.ceil(r.retryAfterMs / 1000)));
      return res;
    }
    if (r.kind === "denied") {
      d.log.warn("login failed", { user: b.user, client });
      audit.record({ user: b.user, action: "login-failed", outcome: "denied", detail: { client } });
      throw unauthorized("Wrong user name or password.");
    }
    audit.record({ user: b.user, action: "login", detail: { client } });
    setCookie(c, SESSION_COOKIE, r.token, { httpOnly: true, sameSite: "Strict", path: "/", secure: new URL(c.req.url).protocol === "https:", maxAge: Math.floor(d.sessionTtlMs / 1000) });
    d.log.info("login", { user: b.user });
    return c.json({ token: r.token, user: r.session.user, role: r.session.role, roles: r.session.roles, expiresAt: r.session.expiresAt });
  });

  // Liveness only: which sites exist and which certificates central holds is for site admins (health/detail).
  api.route({ method: "get", path: "/api/v1/health", summary: "Liveness: the process answers (no sites, no certificates)", tag, rights: { public: "liveness for load balancers and monitors; names nothing" }, response: Ok }, (c) =>
    c.json({ status: "ok", time: new Date(d.clock.now()).toISOString() }),
  );

  api.route({ method: "get", path: "/api/v1/health/detail", summary: "This process: certificates with expiry (warning 14 days before), site counts", tag, rights: { right: "admin-sites" } }, (c) => {
    const certificates = d.trust.certificates();
    const warnings = certificates.filter((x) => x.warning).map((x) => `${x.kind} certificate ${x.subject} expires ${x.notAfter} (${x.daysLeft} days left)`);
    return c.json({
      status: warnings.length ? "warning" : "ok",
      time: new Date(d.clock.now()).toISOString(),
      certificates,
      warnings,
      sites: { total: d.trust.registry.list().length, online: d.trust.registry.list().filter((s) => d.trust.sessions.count(s.id) > 0).length },
    });
  });

  api.route({ method: "post", path: "/api/v1/enrollment-tokens", summary: "Create a single-use, expiring enrollment token for a new site", tag, rights: { right: "admin-sites" }, body: TokenRequest, response: TokenView, status: 201 }, async (c, { body: b }) => {
    const t = await d.trust.createEnrollmentToken(b.site, b.ttlHours);
    audit.record({ user: c.var.session.user, action: "config", subject: "enrollment-token.create", siteId: t.siteId, detail: { site: b.site, tokenId: t.tokenId } });
    const { enrollUrl } = d.urls();
    return c.json({ ...t, enrollUrl, command: `outpost edge enroll --central ${enrollUrl} --token ${t.token} --data DIR` }, 201);
  });

  api.route({ method: "get", path: "/api/v1/sites", summary: "Enrolled sites with online state and certificate expiry", tag, rights: { user: "filtered" }, response: { type: "object", properties: { sites: { type: "array", items: SiteRef } } } }, (c) =>
    c.json({ sites: rights.visibleSites(c.var.session, d.trust.registry.list()).map((s) => d.trust.siteView(s)) }),
  );

  const site = (c: Context, id: string) => {
    const s = d.trust.registry.get(id);
    if (!s) throw notFound(`No site with id ${id}.`);
    return s;
  };
  api.route({ method: "get", path: "/api/v1/sites/:id", summary: "One site; with a right on the whole site also its health, config, cameras and transfer state", tag, rights: { right: "any", site: ":id", viaCamera: true }, response: SiteRef }, async (c) => {
    const view = d.trust.siteView(site(c, c.req.param("id")));
    if (!d.siteDetails) return c.json(view);
    const details = await d.siteDetails(view.id);
    // A user who sees the site only through some of its cameras gets the site and those cameras, nothing site-wide.
    if (rights.hasAny(c.var.session, { site: view.id })) return c.json({ ...details, ...view });
    const cameras = Array.isArray(details.cameras) ? (details.cameras as string[]).filter((id) => rights.canSeeCamera(c.var.session, id, view.id)) : [];
    return c.json({ ...view, cameras });
  });
  api.route({ method: "delete", path: "/api/v1/sites/:id", summary: "Revoke a site: its sessions are closed within seconds and its certificates refused from then on", tag, rights: { right: "admin-sites", site: ":id" }, query: RevokeQuery, response: SiteRef }, async (c, { query }) => {
    const id = c.req.param("id");
    site(c, id);
    const reason = query.reason ?? `revoked by ${c.var.session.user}`;
    audit.record({ user: c.var.session.user, action: "config", subject: "site.revoke", siteId: id, detail: { reason } });
    return c.json(d.trust.siteView(await d.trust.revokeSite(id, reason)));
  });

  d.ops.mount(api);
  d.mount?.(api);
  api.check();
  return app;
}

/** The client's address; "unknown" when not served by Bun.serve (e.g. app.request in a test). */
function clientOf(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}
