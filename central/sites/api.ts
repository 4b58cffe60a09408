/**
 * User-facing routes of the control plane (mounted through startCentral's apiRoutes hook):
 * cameras and their timelines from the mirror, desired config, commands, site events.
 * Timeline pieces say where footage is held (edge / central / both) and when the edge is
 * expected to overwrite it.
 */
import type { Context } from "hono";
import { z } from "zod";
import { badRequest, forbidden, notFound, readJson } from "../../lib/http/problem.ts";
import { intQuery, queryParam, timeQuery } from "../../lib/http/query.ts";
import { DesiredConfig, splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Sites } from "./sites.ts";

const CONTINUOUS_MS = 1500;

export interface Range {
  startMs: number;
  endMs: number;
}

export type Held = "edge" | "central" | "both";

/** Splits the union of edge and central ranges into pieces labeled by who holds them. */
export function mergeHoldings(edge: Range[], central: Range[]): (Range & { held: Held })[] {
  const cuts = new Set<number>();
  for (const r of [...edge, ...central]) cuts.add(r.startMs).add(r.endMs);
  const xs = [...cuts].sort((a, b) => a - b);
  const inAny = (rs: Range[], a: number, b: number) => rs.some((r) => r.startMs <= a && r.endMs >= b);
  const out: (Range & { held: Held })[] = [];
  for (let i = 0; i + 1 < xs.length; i++) {
    const a = xs[i]!;
    const b = xs[i + 1]!;
    const e = inAny(edge, a, b);
    const c = inAny(central, a, b);
    if (!e && !c) continue;
    const held: Held = e && c ? "both" : e ? "edge" : "central";
    const last = out[out.length - 1];
    if (last && last.held === held && last.endMs === a) last.endMs = b;
    else out.push({ startMs: a, endMs: b, held });
  }
  return out;
}

export function mergeRanges(rows: Range[]): Range[] {
  const out: Range[] = [];
  for (const r of [...rows].sort((a, b) => a.startMs - b.startMs)) {
    const last = out[out.length - 1];
    if (last && r.startMs - last.endMs <= CONTINUOUS_MS) last.endMs = Math.max(last.endMs, r.endMs);
    else out.push({ ...r });
  }
  return out;
}

const ConfigPut = z.object({ config: z.unknown() });
const CommandPost = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, "command names are lower-case words with dashes"),
  args: z.record(z.string(), z.unknown()).default({}),
  ttlSeconds: z.number().int().positive().max(7 * 86400).default(300),
  /** Client-chosen id makes a retried POST idempotent. */
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
});

const timeParam = (c: Context, name: string, fallback: number): number => queryParam(c, name, timeQuery(), fallback);

/** Every list is filtered to what the user may see; every camera or site route names its right. */
export function mountSiteRoutes(api: ApiRouter, s: Sites): void {
  const rights = api.rights;
  const tag = "sites";
  const requireSite = (id: string) => {
    if (!s.siteExists(id)) throw notFound(`No site with id ${id}.`);
  };

  api.route({ method: "get", path: "/api/v1/cameras", summary: "Cameras of the sites (mirrored device tree) you may see", tag, rights: { user: "filtered" } }, async (c) => {
    const all = await s.cameras();
    return c.json({ cameras: rights.visibleCameras(c.var.session, all) });
  });

  api.route({ method: "get", path: "/api/v1/cameras/:id", summary: "One camera from the mirrored device tree", tag, rights: { right: "any", camera: ":id" } }, async (c) => {
    const cam = (await s.cameras()).find((x) => x.id === c.req.param("id"));
    if (!cam) throw notFound(`No camera with id ${c.req.param("id")} (central camera ids are <site>.<camera>).`);
    return c.json(cam);
  });

  api.route({ method: "get", path: "/api/v1/cameras/:id/timeline", summary: "Recorded ranges of a camera, labeled edge / central / both, with the edge's expected overwrite time", tag, rights: { right: "any", camera: ":id" } }, async (c) => {
    const id = c.req.param("id");
    const parts = splitCentralCameraId(id);
    if (!parts || !(await s.camerasOf(parts.siteId)).some((x) => x.id === id)) throw notFound(`No camera with id ${id} (central camera ids are <site>.<camera>).`);
    const now = s.clock.now();
    const to = timeParam(c, "to", now);
    const from = timeParam(c, "from", to - 86_400_000);
    if (to <= from) throw badRequest("from must be before to.");
    const stream = c.req.query("stream") ?? "main";
    if (stream !== "main" && stream !== "sub") throw badRequest('stream must be "main" or "sub".');
    return c.json(await s.timeline(parts.siteId, parts.cameraId, stream, from, to));
  });

  api.route({ method: "get", path: "/api/v1/site-health", summary: "Every site's last health report (from memory: one request for the whole fleet, never queued behind the database)", tag, rights: { user: "filtered" } }, (c) =>
    // Health is site-wide: a user who sees a site only through some of its cameras does not get it (as in GET /api/v1/sites/{id}).
    c.json({ sites: s.latestHealthAll().filter((h) => rights.hasAny(c.var.session, { site: h.id })) }),
  );

  api.route({ method: "get", path: "/api/v1/sites/:id/config", summary: "Desired and applied config of a site", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    return c.json(await s.configView(id));
  });

  api.route({ method: "put", path: "/api/v1/sites/:id/config", summary: "Set a site's desired config (a new version, delivered retained)", tag, rights: { right: "admin-sites", site: ":id" }, body: ConfigPut }, async (c, { body: b }) => {
    const id = c.req.param("id");
    requireSite(id);
    const r = DesiredConfig.safeParse(b.config);
    if (!r.success) throw badRequest(`The config is not valid: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ")}.`);
    // The interconnect policy has its own endpoint (PUT /sites/{id}/policy): a config PUT
    // without one keeps the current policy instead of wiping it.
    const cur = (await s.configView(id)).desired?.config as { policy?: unknown } | undefined;
    const next = r.data.policy === undefined && cur?.policy !== undefined ? { ...r.data, policy: cur.policy } : r.data;
    await s.setDesired(id, next as typeof r.data, c.var.session.user);
    return c.json(await s.configView(id));
  });

  api.route({ method: "post", path: "/api/v1/sites/:id/commands", summary: "Send a command to a site's edge (idempotent with a client id)", tag, rights: { right: "admin-sites", site: ":id" }, body: CommandPost, status: 202 }, async (c, { body: b }) => {
    const id = c.req.param("id");
    requireSite(id);
    return c.json(await s.command(id, b.name, b.args, b.ttlSeconds * 1000, c.var.session.user, b.id), 202);
  });

  api.route({ method: "get", path: "/api/v1/sites/:id/commands/:cid", summary: "One command and its result", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const cmd = await s.commandView(id, c.req.param("cid"));
    if (!cmd) throw notFound(`No command ${c.req.param("cid")} for site ${id}.`);
    return c.json(cmd);
  });

  api.route({ method: "get", path: "/api/v1/sites/:id/telemetry", summary: "A site's telemetry of one kind (gps, log, …) in a time window", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const kind = c.req.query("kind");
    if (!kind) throw badRequest("kind is required (e.g. gps, log).");
    const to = timeParam(c, "to", s.clock.now());
    const from = timeParam(c, "from", to - 86_400_000);
    return c.json({ telemetry: await s.telemetry(id, kind, from, to, 10_000) });
  });

  api.route({ method: "get", path: "/api/v1/sites/:id/events", summary: "A site's control-plane events after a sequence number", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const after = queryParam(c, "after", intQuery({ min: 0 }), 0);
    const limit = queryParam(c, "limit", intQuery({ min: 1, max: 10_000 }), 1000);
    return c.json({ events: await s.events(id, after, limit) });
  });
}
