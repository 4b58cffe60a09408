/**
 * User-facing routes of the control plane (mounted through startCentral's apiRoutes hook):
 * cameras and their timelines from the mirror, desired config, commands, site events.
 * Timeline pieces say where footage is held (edge / central / both) and when the edge is
 * expected to overwrite it.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import { badRequest, forbidden, notFound, readJson } from "../../lib/http/problem.ts";
import { intQuery, queryParam, timeQuery } from "../../lib/http/query.ts";
import { DesiredConfig, splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiEnv } from "../api.ts";
import { requireRight, type Rights } from "../rights/index.ts";
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

/**
 * With `rights` (central's users/roles), every list is filtered to what the user may see and
 * every camera or site route needs the matching right; without it (focused tests) only the
 * built-in admin role may change config or send commands.
 */
export function mountSiteRoutes(app: Hono<ApiEnv>, auth: MiddlewareHandler<ApiEnv>, s: Sites, rights?: Rights): void {
  const requireSite = (id: string) => {
    if (!s.siteExists(id)) throw notFound(`No site with id ${id}.`);
  };
  const siteOf = (c: Context) => ({ site: c.req.param("id") });
  const cameraOf = (c: Context) => ({ camera: c.req.param("id"), site: splitCentralCameraId(c.req.param("id") ?? "")?.siteId ?? null });
  const roleAdmin: MiddlewareHandler<ApiEnv> = async (c, next) => {
    if (c.var.session.role !== "admin") throw forbidden();
    await next();
  };
  const admin: MiddlewareHandler<ApiEnv> = rights ? requireRight(rights, "admin-sites", siteOf as never) : roleAdmin;
  // Reading a camera's tree entry and timeline: any right on it makes it visible.
  const seeCamera: MiddlewareHandler<ApiEnv> = async (c, next) => {
    if (rights) {
      const t = cameraOf(c);
      if (!rights.canSeeCamera(c.var.session as never, t.camera ?? "", t.site)) throw notFound(`No camera with id ${t.camera}.`);
    }
    await next();
  };
  const seeSite: MiddlewareHandler<ApiEnv> = async (c, next) => {
    if (rights && !rights.canSeeSite(c.var.session as never, c.req.param("id") ?? "")) throw notFound(`No site with id ${c.req.param("id")}.`);
    await next();
  };
  if (rights) rights.setCameraDirectory({ siteOf: (camera: string) => splitCentralCameraId(camera)?.siteId ?? null });

  app.get("/api/v1/cameras", auth, async (c) => {
    const all = await s.cameras();
    return c.json({ cameras: rights ? rights.visibleCameras(c.var.session as never, all) : all });
  });

  app.get("/api/v1/cameras/:id", auth, seeCamera, async (c) => {
    const cam = (await s.cameras()).find((x) => x.id === c.req.param("id"));
    if (!cam) throw notFound(`No camera with id ${c.req.param("id")} (central camera ids are <site>.<camera>).`);
    return c.json(cam);
  });

  app.get("/api/v1/cameras/:id/timeline", auth, seeCamera, async (c) => {
    const id = c.req.param("id");
    const parts = splitCentralCameraId(id);
    if (!parts || !(await s.cameras()).some((x) => x.id === id)) throw notFound(`No camera with id ${id} (central camera ids are <site>.<camera>).`);
    const now = s.clock.now();
    const to = timeParam(c, "to", now);
    const from = timeParam(c, "from", to - 86_400_000);
    if (to <= from) throw badRequest("from must be before to.");
    const stream = c.req.query("stream") ?? "main";
    if (stream !== "main" && stream !== "sub") throw badRequest('stream must be "main" or "sub".');
    return c.json(await s.timeline(parts.siteId, parts.cameraId, stream, from, to));
  });

  app.get("/api/v1/sites/:id/config", auth, seeSite, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    return c.json(await s.configView(id));
  });

  app.put("/api/v1/sites/:id/config", auth, admin, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const b = await readJson(c, ConfigPut);
    const r = DesiredConfig.safeParse(b.config);
    if (!r.success) throw badRequest(`The config is not valid: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ")}.`);
    // The interconnect policy has its own endpoint (PUT /sites/{id}/policy): a config PUT
    // without one keeps the current policy instead of wiping it.
    const cur = (await s.configView(id)).desired?.config as { policy?: unknown } | undefined;
    const next = r.data.policy === undefined && cur?.policy !== undefined ? { ...r.data, policy: cur.policy } : r.data;
    await s.setDesired(id, next as typeof r.data, c.var.session.user);
    return c.json(await s.configView(id));
  });

  app.post("/api/v1/sites/:id/commands", auth, admin, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const b = await readJson(c, CommandPost);
    return c.json(await s.command(id, b.name, b.args, b.ttlSeconds * 1000, c.var.session.user, b.id), 202);
  });

  app.get("/api/v1/sites/:id/commands/:cid", auth, seeSite, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const cmd = await s.commandView(id, c.req.param("cid"));
    if (!cmd) throw notFound(`No command ${c.req.param("cid")} for site ${id}.`);
    return c.json(cmd);
  });

  app.get("/api/v1/sites/:id/telemetry", auth, seeSite, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const kind = c.req.query("kind");
    if (!kind) throw badRequest("kind is required (e.g. gps, log).");
    const to = timeParam(c, "to", s.clock.now());
    const from = timeParam(c, "from", to - 86_400_000);
    return c.json({ telemetry: await s.telemetry(id, kind, from, to, 10_000) });
  });

  app.get("/api/v1/sites/:id/events", auth, seeSite, async (c) => {
    const id = c.req.param("id");
    requireSite(id);
    const after = queryParam(c, "after", intQuery({ min: 0 }), 0);
    const limit = queryParam(c, "limit", intQuery({ min: 1, max: 10_000 }), 1000);
    return c.json({ events: await s.events(id, after, limit) });
  });
}
