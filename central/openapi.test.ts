/**
 * The route-definition mechanism: a route has a rights rule or it is not registered; a route
 * added beside the router is caught by the startup check; the rule is enforced (401, 403, 404)
 * and published in the generated document.
 */
import { describe, expect, test } from "bun:test";
import { Hono, type MiddlewareHandler } from "hono";
import { onNotFound, onProblem } from "../lib/http/problem.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { ApiRouter, OpenApiRegistry, type RouteDef } from "./openapi.ts";
import { Rights, type Grant } from "./rights/index.ts";
import type { ApiEnv } from "./api.ts";
import type { Operations } from "./events/operations.ts";

/** Sessions by bearer token: the grants each test user holds. */
const USERS: Record<string, Grant[]> = {
  admin: [{ rights: ["admin-users", "admin-sites", "view-live"], scope: "*" }],
  camera: [{ rights: ["view-live"], scope: "camera:s1.c1" }],
};
const auth: MiddlewareHandler<ApiEnv> = async (c, next) => {
  const user = c.req.header("authorization")?.slice(7);
  if (!user || !USERS[user]) return c.json({ status: 401 }, 401);
  c.set("session", { user, grants: USERS[user], roles: [], role: "", expiresAt: "" } as never);
  await next();
};

function router(): { app: Hono<ApiEnv>; api: ApiRouter; reg: OpenApiRegistry } {
  const app = new Hono<ApiEnv>();
  app.onError(onProblem(new Logger({ component: "test", sink: new MemorySink(), level: "error" })));
  app.notFound(onNotFound);
  const rights = new Rights(() => new Map());
  rights.setCameraDirectory({ siteOf: (c) => c.split(".")[0] ?? null });
  const reg = new OpenApiRegistry();
  const ops = { rights, openapi: reg, apiKeys: { check: () => null } } as unknown as Operations;
  return { app, api: new ApiRouter(app, auth, ops), reg };
}

const as = (app: Hono<ApiEnv>, user: string | null, p: string) => app.request(p, { headers: user ? { authorization: `Bearer ${user}` } : {} });

describe("route definitions", () => {
  test("a route without a rights rule is refused at registration", () => {
    const { api } = router();
    const def = { method: "get", path: "/api/v1/x", summary: "x", tag: "t" } as unknown as RouteDef<"/api/v1/x", undefined, undefined>;
    expect(() => api.route(def, (c) => c.json({}))).toThrow("has no rights rule");
  });

  test("a route added beside the router fails the startup check, naming it", () => {
    const { app, api } = router();
    api.route({ method: "get", path: "/api/v1/ok", summary: "ok", tag: "t", rights: { user: "self" } }, (c) => c.json({}));
    expect(() => api.check()).not.toThrow();
    app.use("/api/*", async (_c, next) => next()); // middleware is no route
    expect(() => api.check()).not.toThrow();
    app.get("/api/v1/sneaky/:id", (c) => c.json({}));
    expect(() => api.check()).toThrow("served but not defined through ApiRouter: GET /api/v1/sneaky/{id}");
  });

  test("the rule is enforced before the handler and published in the document", async () => {
    const { app, api, reg } = router();
    let ran = 0;
    api.route({ method: "get", path: "/api/v1/admin", summary: "admin", tag: "t", rights: { right: "admin-users" } }, (c) => (ran++, c.json({})));
    api.route({ method: "get", path: "/api/v1/cam/:id", summary: "cam", tag: "t", rights: { right: "view-live", camera: ":id" } }, (c) => (ran++, c.json({})));
    api.route({ method: "get", path: "/api/v1/site/:id", summary: "site", tag: "t", rights: { right: "any", site: ":id" } }, (c) => (ran++, c.json({})));
    expect((await as(app, null, "/api/v1/admin")).status).toBe(401);
    expect((await as(app, "camera", "/api/v1/admin")).status).toBe(403);
    expect((await as(app, "camera", "/api/v1/cam/s1.c2")).status).toBe(404);
    expect((await as(app, "camera", "/api/v1/cam/s2.c1")).status).toBe(404);
    expect((await as(app, "camera", "/api/v1/site/s1")).status).toBe(403);
    expect((await as(app, "camera", "/api/v1/site/s2")).status).toBe(404);
    expect(ran).toBe(0);
    expect((await as(app, "camera", "/api/v1/cam/s1.c1")).status).toBe(200);
    expect((await as(app, "admin", "/api/v1/admin")).status).toBe(200);
    expect((await as(app, "admin", "/api/v1/site/s2")).status).toBe(200);
    expect(ran).toBe(3);
    const doc = reg.document() as { paths: Record<string, Record<string, { "x-outpost-rights": unknown; security: unknown[] }>> };
    expect(doc.paths["/api/v1/cam/{id}"]!.get!["x-outpost-rights"]).toEqual({ right: "view-live", camera: ":id" });
    expect(doc.paths["/api/v1/admin"]!.get!.security.length).toBeGreaterThan(0);
  });
});
