/**
 * HTTP routes: alarm list (filter/sort/paging, only what the user may see), one alarm with
 * comments, the workflow PATCH (ack-alarms), and the live change feed as Server-Sent Events.
 */
import { z } from "zod";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import type { ApiEnv } from "../api.ts";
import type { ApiRouter } from "../openapi.ts";
import { guard } from "../rights/errors.ts";
import type { OpsContext } from "../events/operations.ts";
import { Alarm, AlarmPatch, AlarmQuery } from "./index.ts";

const HEARTBEAT_MS = 5000;

export function mountAlarmRoutes(api: ApiRouter, x: OpsContext): void {
  const tag = "alarms";
  const idOf = (c: Context<ApiEnv>) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) throw badRequest(`An alarm id is a positive integer, not ${c.req.param("id")}.`);
    return id;
  };
  /** The alarm if the user may see it; 404 otherwise (existence is not revealed). */
  const visible = async (c: Context<ApiEnv>) => {
    const id = idOf(c);
    const a = await x.alarms.get(id);
    const s = c.var.session;
    const ok = a && (a.cameraId ? x.rights.canSeeCamera(s, a.cameraId, a.siteId) : a.siteId ? x.rights.canSeeSite(s, a.siteId) : x.rights.sqlScope(s).sql === "TRUE");
    if (!a || !ok) throw notFound(`No alarm with id ${id}.`);
    return a;
  };
  /** The alarm's camera or site for the rights rule (null: no such alarm). */
  const target = async (c: Context) => {
    const a = await x.alarms.get(idOf(c as Context<ApiEnv>));
    return a ? (a.cameraId ? { camera: a.cameraId, site: a.siteId } : { site: a.siteId }) : null;
  };

  api.route({ method: "get", path: "/api/v1/alarms", summary: "Alarms of the sites and cameras you may see, with filter, sort and paging", tag, rights: { user: "filtered" }, query: AlarmQuery, response: z.object({ alarms: z.array(Alarm), total: z.number(), limit: z.number(), offset: z.number() }) }, async (c, { query }) =>
    c.json(await x.alarms.list(query, x.rights.sqlScope(c.var.session))),
  );

  api.route({ method: "get", path: "/api/v1/alarms/stream", summary: "Server-Sent Events: 'alarm' with {kind: created|updated, alarm} for every change you may see, as it happens", tag, rights: { user: "filtered" }, produces: "text/event-stream" }, (c) =>
    streamSSE(c, async (stream) => {
      const s = c.var.session;
      const sees = (a: Alarm) => (a.cameraId ? x.rights.canSeeCamera(s, a.cameraId, a.siteId) : a.siteId ? x.rights.canSeeSite(s, a.siteId) : x.rights.sqlScope(s).sql === "TRUE");
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const off = x.alarms.subscribe(({ kind, alarm }) => {
        if (sees(alarm)) void stream.writeSSE({ event: "alarm", id: `${alarm.id}-${alarm.updatedAt}`, data: JSON.stringify({ kind, alarm }) }).catch(done);
      });
      // Heartbeats keep proxies and Bun's idle timeout from closing a quiet stream; the stream ends with the session.
      const beat = setInterval(() => {
        if (Date.parse(s.expiresAt) <= x.clock.now()) return done();
        void stream.write(": ping\n\n").catch(done);
      }, HEARTBEAT_MS);
      stream.onAbort(done);
      await stream.writeSSE({ event: "ready", data: JSON.stringify({ user: s.user }) });
      await finished;
      clearInterval(beat);
      off();
    }),
  );

  api.route({ method: "get", path: "/api/v1/alarms/:id", summary: "One alarm with its comments, links to camera/time/event, and the retrieved clip", tag, rights: { right: "any", resource: "alarm", target }, response: Alarm }, async (c) => c.json(await visible(c)));

  api.route(
    { method: "patch", path: "/api/v1/alarms/:id", summary: "Workflow: take (in-progress, assigned), close, reassign, comment", tag, rights: { right: "ack-alarms", resource: "alarm", target }, body: AlarmPatch, response: Alarm },
    async (c, { body }) => {
      if (body.assignee && !x.users.user(body.assignee)) throw badRequest(`No user named ${body.assignee}.`);
      const a = await guard(x.alarms.update(idOf(c), body, c.var.session.user));
      x.audit.record({ user: c.var.session.user, action: "alarm", subject: "alarm.update", siteId: a.siteId, cameraId: a.cameraId, detail: { id: a.id, state: body.state, assignee: body.assignee, comment: body.comment } });
      return c.json(a);
    },
  );
}
