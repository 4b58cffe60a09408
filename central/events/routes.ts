/** HTTP routes: event list (filtered to what the user may see), event posting by integrations (API key), API keys. */
import { z } from "zod";
import type { Hono, MiddlewareHandler } from "hono";
import { badRequest, forbidden, notFound, unauthorized } from "../../lib/http/problem.ts";
import type { ApiEnv } from "../api.ts";
import { route } from "../openapi.ts";
import { requireRight } from "../rights/index.ts";
import type { OpsContext } from "./operations.ts";
import { Event, EventError, EventQuery, EventType } from "./index.ts";
import { ApiKeyCreate, ApiKeyView } from "./keys.ts";

const EventPost = z.object({
  id: z.string().min(1).max(200).optional().describe("your id; posting the same id again is accepted once"),
  type: EventType,
  time: z.iso.datetime({ offset: true }).optional().describe("when it happened; default now"),
  siteId: z.string().min(1).max(200).optional(),
  cameraId: z.string().min(1).max(200).optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});
const Posted = z.object({ event: Event, duplicate: z.boolean() });

export function mountEventRoutes(app: Hono<ApiEnv>, auth: MiddlewareHandler<ApiEnv>, x: OpsContext): void {
  const admin = requireRight<ApiEnv>(x.rights, "admin-users");
  const tag = "events";

  route(app, x.openapi, { method: "get", path: "/api/v1/events", summary: "Events (original time, arrival time, late flag) of the sites and cameras you may see, newest first", tag, query: EventQuery, response: z.object({ events: z.array(Event) }) }, [auth], async (c, { query }) =>
    c.json(await x.events.query(query, x.rights.sqlScope(c.var.session))),
  );

  route(app, x.openapi, { method: "post", path: "/api/v1/events", summary: "Post an external event (integrations; header x-api-key or 'Authorization: ApiKey KEY')", tag, auth: "api-key", body: EventPost, response: Posted, status: 202 }, [], async (c, { body }) => {
    const h = c.req.header("authorization");
    const key = c.req.header("x-api-key") ?? (h && /^ApiKey\s+(\S+)$/i.exec(h)?.[1]);
    if (!key) throw unauthorized("Send an API key (x-api-key header); an admin creates one with POST /api/v1/api-keys.");
    const k = x.apiKeys.check(key);
    if (!k) throw unauthorized("This API key is unknown or revoked.");
    if (k.siteId && body.siteId && body.siteId !== k.siteId) throw forbidden(`This API key may only post events of site ${k.siteId}.`);
    try {
      const r = await x.events.ingest({
        id: body.id === undefined ? undefined : `ext:${k.id}:${body.id}`,
        type: body.type,
        time: body.time ?? new Date(x.clock.now()).toISOString(),
        source: "external",
        origin: k.name,
        siteId: body.siteId ?? k.siteId,
        cameraId: body.cameraId ?? null,
        data: body.data,
      });
      return c.json(r, 202);
    } catch (e) {
      if (e instanceof EventError) throw badRequest(e.message);
      throw e;
    }
  });

  route(app, x.openapi, { method: "get", path: "/api/v1/api-keys", summary: "Integration API keys (without the keys)", tag, right: "admin-users", response: z.object({ keys: z.array(ApiKeyView) }) }, [auth, admin], (c) => c.json({ keys: x.apiKeys.list() }));
  route(app, x.openapi, { method: "post", path: "/api/v1/api-keys", summary: "Create an API key for posting events; the key is shown once", tag, right: "admin-users", body: ApiKeyCreate, response: ApiKeyView.extend({ key: z.string() }), status: 201 }, [auth, admin], async (c, { body }) => {
    const k = await x.apiKeys.create(body.name, body.siteId ?? null, c.var.session.user);
    x.audit.record({ user: c.var.session.user, action: "config", subject: "api-key.create", siteId: k.siteId, detail: { id: k.id, name: k.name } });
    return c.json(k, 201);
  });
  route(app, x.openapi, { method: "delete", path: "/api/v1/api-keys/:id", summary: "Revoke an API key", tag, right: "admin-users", response: z.object({ ok: z.literal(true) }) }, [auth, admin], async (c) => {
    if (!(await x.apiKeys.revoke(c.req.param("id")!))) throw notFound(`No API key with id ${c.req.param("id")!}.`);
    x.audit.record({ user: c.var.session.user, action: "config", subject: "api-key.revoke", detail: { id: c.req.param("id")! } });
    return c.json({ ok: true as const });
  });
}
