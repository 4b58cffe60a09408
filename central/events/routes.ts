/** HTTP routes: event list (filtered to what the user may see), event posting by integrations (API key), API keys. */
import { z } from "zod";
import { badRequest, forbidden, notFound, unauthorized } from "../../lib/http/problem.ts";
import type { ApiRouter } from "../openapi.ts";
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

export function mountEventRoutes(api: ApiRouter, x: OpsContext): void {
  const tag = "events";

  api.route({ method: "get", path: "/api/v1/events", summary: "Events (original time, arrival time, late flag) of the sites and cameras you may see, newest first", tag, rights: { user: "filtered" }, query: EventQuery, response: z.object({ events: z.array(Event) }) }, async (c, { query }) =>
    c.json(await x.events.query(query, x.rights.sqlScope(c.var.session))),
  );

  api.route({ method: "post", path: "/api/v1/events", summary: "Post an external event (integrations; header x-api-key or 'Authorization: ApiKey KEY')", tag, rights: { apiKey: "site-scoped" }, body: EventPost, response: Posted, status: 202 }, async (c, { body }) => {
    const h = c.req.header("authorization");
    const key = c.req.header("x-api-key") ?? (h && /^ApiKey\s+(\S+)$/i.exec(h)?.[1]);
    if (!key) throw unauthorized("Send an API key (x-api-key header); an admin creates one with POST /api/v1/api-keys.");
    const k = x.apiKeys.check(key);
    if (!k) throw unauthorized("This API key is unknown or revoked.");
    if (k.siteId && body.siteId && body.siteId !== k.siteId) throw forbidden(`This API key may only post events of site ${k.siteId}.`);
    // The camera decides where rules act (alarms, retrievals): a site-scoped key names only its own site's cameras.
    if (k.siteId && body.cameraId && x.rights.siteOf(body.cameraId) !== k.siteId) throw forbidden(`This API key may only post events of site ${k.siteId}'s cameras (central camera ids are <site>.<camera>).`);
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

  api.route({ method: "get", path: "/api/v1/api-keys", summary: "Integration API keys (without the keys)", tag, rights: { right: "admin-users" }, response: z.object({ keys: z.array(ApiKeyView) }) }, (c) => c.json({ keys: x.apiKeys.list() }));
  api.route({ method: "post", path: "/api/v1/api-keys", summary: "Create an API key for posting events; the key is shown once", tag, rights: { right: "admin-users" }, body: ApiKeyCreate, response: ApiKeyView.extend({ key: z.string() }), status: 201 }, async (c, { body }) => {
    const k = await x.apiKeys.create(body.name, body.siteId ?? null, c.var.session.user);
    x.audit.record({ user: c.var.session.user, action: "config", subject: "api-key.create", siteId: k.siteId, detail: { id: k.id, name: k.name } });
    return c.json(k, 201);
  });
  api.route({ method: "delete", path: "/api/v1/api-keys/:id", summary: "Revoke an API key", tag, rights: { right: "admin-users" }, response: z.object({ ok: z.literal(true) }) }, async (c) => {
    if (!(await x.apiKeys.revoke(c.req.param("id")!))) throw notFound(`No API key with id ${c.req.param("id")!}.`);
    x.audit.record({ user: c.var.session.user, action: "config", subject: "api-key.revoke", detail: { id: c.req.param("id")! } });
    return c.json({ ok: true as const });
  });
}
