/**
 * Central's user-facing HTTP API (Bun.serve + Hono): login, enrollment tokens, sites,
 * revocation, health and the OpenAPI document. Admin routes need a session from
 * POST /api/v1/login (bearer token or the HttpOnly cookie). Later issues add routes through
 * startCentral's `apiRoutes` hook, behind the same `requireUser` middleware.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import { HttpProblem, forbidden, notFound, onNotFound, onProblem, problemResponse, readJson, unauthorized } from "../lib/http/problem.ts";
import { getConnInfo } from "hono/bun";
import { requireRight } from "./rights/index.ts";
import type { Operations } from "./events/operations.ts";
import type { Logger } from "../lib/log/index.ts";
import type { Clock } from "../lib/clock.ts";
import type { Session, Users } from "./users/index.ts";
import type { Trust } from "./trust.ts";

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
  ops: Operations;
  users: Users;
  trust: Trust;
  clock: Clock;
  log: Logger;
  sessionTtlMs: number;
  urls: () => { enrollUrl: string; federationUrl: string; mqttUrl: string };
  mount?: (app: Hono<ApiEnv>, auth: MiddlewareHandler<ApiEnv>, ops: Operations) => void;
  /** Extra fields for GET /api/v1/sites/{id} (control plane: health, config, cameras). */
  siteDetails?: (siteId: string) => Promise<Record<string, unknown>>;
}

export function apiApp(d: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.onError(onProblem(d.log));
  app.notFound(onNotFound);
  const auth = requireUser(d.users);
  const rights = d.ops.rights;
  const audit = d.ops.audit;
  const siteAdmin = requireRight<ApiEnv>(rights, "admin-sites");
  const siteTarget = (c: Context) => ({ site: c.req.param("id") });

  app.get("/api/v1/openapi.json", (c) => c.json(d.ops.openapi.document()));

  app.post("/api/v1/login", async (c) => {
    const b = await readJson(c, Login);
    let client = "unknown";
    try {
      client = getConnInfo(c).remote.address ?? "unknown";
    } catch {
      // not served by Bun.serve (e.g. app.request in a test): throttle by user name only
    }
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

  app.get("/api/v1/health", (c) => {
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

  app.post("/api/v1/enrollment-tokens", auth, siteAdmin, async (c) => {
    const b = await readJson(c, TokenRequest);
    const t = await d.trust.createEnrollmentToken(b.site, b.ttlHours);
    audit.record({ user: c.var.session.user, action: "config", subject: "enrollment-token.create", siteId: t.siteId, detail: { site: b.site, tokenId: t.tokenId } });
    const { enrollUrl } = d.urls();
    return c.json({ ...t, enrollUrl, command: `outpost edge enroll --central ${enrollUrl} --token ${t.token} --data DIR` }, 201);
  });

  app.get("/api/v1/sites", auth, (c) => c.json({ sites: rights.visibleSites(c.var.session, d.trust.registry.list()).map((s) => d.trust.siteView(s)) }));

  const site = (c: Context, id: string) => {
    const s = d.trust.registry.get(id);
    if (!s) throw notFound(`No site with id ${id}.`);
    return s;
  };
  app.get("/api/v1/sites/:id", auth, async (c) => {
    if (!rights.canSeeSite(c.var.session, c.req.param("id"))) throw notFound(`No site with id ${c.req.param("id")}.`);
    const view = d.trust.siteView(site(c, c.req.param("id")));
    return c.json(d.siteDetails ? { ...(await d.siteDetails(view.id)), ...view } : view);
  });
  app.delete("/api/v1/sites/:id", auth, requireRight<ApiEnv>(rights, "admin-sites", siteTarget), async (c) => {
    const id = c.req.param("id");
    site(c, id);
    const reason = c.req.query("reason") ?? `revoked by ${c.var.session.user}`;
    audit.record({ user: c.var.session.user, action: "config", subject: "site.revoke", siteId: id, detail: { reason } });
    return c.json(d.trust.siteView(await d.trust.revokeSite(id, reason)));
  });

  d.ops.mount(app, auth);
  d.mount?.(app, auth, d.ops);
  return app;
}
