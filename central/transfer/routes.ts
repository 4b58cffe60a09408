/**
 * HTTP surface of the transfer engine. Federation side (mTLS; the site is the certificate's):
 * the edge's long poll and the chunked upload. User side: retrievals, policies, per-site
 * transfer/budget view, cross-site evidence locks, and central playback (video, video.m3u8)
 * over central's store. Playback of a window that is partly only on the edge queues a
 * request-priority retrieval for it and waits up to `wait` seconds (default 10, max 60) for
 * it; what central then holds is served (header x-outpost-retrieval names the job), and a
 * window with nothing at central yet answers 202 with the retrieval.
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { intQuery, queryParam, timeQuery } from "../../lib/http/query.ts";
import { assertText, badRequest, forbidden, jsonBody, notFound } from "../../lib/http/problem.ts";
import { iso, type Clock } from "../../lib/clock.ts";
import { Playback, rangeReply, type SegmentSource } from "../../lib/playback/index.ts";
import type { MediaStore, SegmentRecord, StreamKind } from "../../lib/store/index.ts";
import { CameraPolicy, SitePolicy, TransferClass, classRank, effectivePolicy } from "../../federation/transfer/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiEnv, ApiRouter, FederationEnv, Operations } from "../index.ts";
import type { Sites } from "../sites/index.ts";
import { guard } from "../rights/errors.ts";
import type { Engine } from "./engine.ts";
import { EngineError } from "./errors.ts";
import { BadUpload, COMMIT_RETRY_AFTER_S, type Receiver } from "./receiver.ts";
import { centralRanges, holdings } from "../holdings/index.ts";
import { RetrievalQuality } from "./progressive.ts";
import { bestStream } from "./best-stream.ts";

function problem(e: unknown): never {
  if (e instanceof EngineError) return guard(Promise.reject(Object.assign(new Error(e.message), { code: e.code }))) as never;
  throw e;
}

export function mountFederation(app: Hono<FederationEnv>, engine: Engine, receiver: Receiver): void {
  app.post("/federation/v1/transfer/work", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw badRequest("The work request must be JSON.");
    }
    assertText(body);
    try {
      return c.json(await engine.poll.work(c.var.peer.siteId, body));
    } catch (e) {
      return problem(e);
    }
  });
  // Resume point after an interrupted upload: committed offset (or whole = committed).
  app.get("/federation/v1/transfer/segments/:cam/:stream/:start", async (c) => {
    const cam = c.req.param("cam");
    const stream = c.req.param("stream");
    const start = c.req.param("start");
    const bytes = queryParam(c, "bytes", intQuery({ min: 1 }), 0);
    const sha256 = c.req.query("sha256") ?? null;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(cam) || (stream !== "main" && stream !== "sub") || !/^\d{1,15}$/.test(start) || !(bytes > 0)) throw badRequest("Segment path is /segments/{camera}/{main|sub}/{startMs}?bytes=&sha256=.");
    const site = c.var.peer.siteId;
    // A commit of it running here: answer when it is done (receiver.commitSettled says why).
    await receiver.commitSettled(site, cam, stream, Number(start));
    if (await receiver.have(site, cam, stream, Number(start), sha256, bytes)) return c.json({ offset: bytes, committed: true });
    return c.json({ offset: await receiver.offsetOf(site, cam, stream, Number(start), bytes), committed: false });
  });
  app.put("/federation/v1/transfer/segments/:cam/:stream/:start", async (c) => {
    const cam = c.req.param("cam");
    const stream = c.req.param("stream");
    const start = c.req.param("start");
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(cam) || (stream !== "main" && stream !== "sub") || !/^\d{1,15}$/.test(start)) throw badRequest("Segment path is /segments/{camera}/{main|sub}/{startMs}.");
    try {
      return c.json(await receiver.receive(c.var.peer.siteId, cam, stream, Number(start), c.req.raw.headers, c.req.raw.body));
    } catch (e) {
      if (e instanceof BadUpload) return c.json({ offset: e.offset, committed: false, error: e.message }, e.status, e.status === 503 ? { "retry-after": String(COMMIT_RETRY_AFTER_S) } : {});
      throw e;
    }
  });
}

const RetrievalPost = z.object({
  cameraId: z.string().min(3).max(300),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  priority: TransferClass.default("request"),
  stream: z.enum(["main", "sub"]).optional(),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  reason: z.string().max(500).optional(),
  /** main (default), or sub-then-main: the window's sub stream first, then its main (progressive.ts). */
  quality: RetrievalQuality.optional(),
});
const LockPost = z.object({
  cameraId: z.string().min(3).max(300),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  reason: z.string().max(500).default(""),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

/** Segments without overlaps (central may hold a live recording and an edge copy of the same time). */
function flatSource(store: MediaStore): SegmentSource {
  return {
    absPath: (s) => store.absPath(s),
    async segments(q) {
      const out: SegmentRecord[] = [];
      for (const s of await store.segments(q)) {
        const last = out[out.length - 1];
        if (last && s.startMs < last.endMs - 100) {
          if (s.endMs > last.endMs + 1000 && s.startMs <= last.startMs + 100) out[out.length - 1] = s; // the longer copy wins
          continue;
        }
        out.push(s);
      }
      return out;
    },
  };
}

export function mountApi(api: ApiRouter, d: { engine: Engine; store: MediaStore; sites: Sites; clock: Clock }): void {
  const { engine } = d;
  const ops: Operations = api.ops;
  const rights = ops.rights;
  const tag = "transfer";
  /** Rights targets of stored retrievals and locks (null: unknown id). */
  const retrievalTarget = async (c: Context) => {
    const r = await engine.retrievals.getRetrieval(c.req.param("id") ?? "");
    return r ? { camera: r.cameraId, site: r.siteId } : null;
  };
  const lockTarget = async (c: Context) => {
    const l = await engine.locks.lockView(c.req.param("id") ?? "");
    return l ? { camera: l.cameraId as string, site: l.siteId as string } : null;
  };
  const check = (c: Context<ApiEnv>, right: "retrieve" | "admin-policies" | "evidence-lock" | "playback", t: { site?: string; camera?: string }) => {
    // The route's rule has checked this already; kept for the handler's own targets (e.g. the body's camera after lookup).
    if (!rights.has(c.var.session, right, t)) throw forbidden(`You do not have the '${right}' right for ${t.camera ? `camera ${t.camera}` : `site ${t.site}`}.`);
  };
  const camParts = async (id: string) => {
    const p = splitCentralCameraId(id);
    if (!p || !(await d.sites.camerasOf(p.siteId)).some((x) => x.id === id)) throw notFound(`No camera with id ${id} (central camera ids are <site>.<camera>).`);
    return p;
  };
  const time = (c: Context<ApiEnv>, name: string, dflt: number) => queryParam(c, name, timeQuery(), dflt);

  // --- retrievals
  api.route({ method: "post", path: "/api/v1/retrievals", summary: "Ask for a time range of an edge-only camera at central (up to your maxPriority)", tag, rights: { right: "retrieve", camera: "body.cameraId" }, body: RetrievalPost, status: 201 }, async (c, { body: b }) => {
    const p = await camParts(b.cameraId);
    check(c, "retrieve", { site: p.siteId, camera: b.cameraId });
    if (rights) {
      const max = rights.maxPriority(c.var.session, { site: p.siteId, camera: b.cameraId });
      if (!max || classRank(b.priority) > classRank(max)) throw forbidden(`You may ask for retrievals up to priority "${max ?? "none"}", not "${b.priority}".`);
    }
    const stream: StreamKind = b.stream ?? effectivePolicy((await engine.inputs.policy(p.siteId)).policy, p.cameraId).stream;
    try {
      const r = await engine.retrievals.createRetrieval({ id: b.id, siteId: p.siteId, cameraId: p.cameraId, stream, fromMs: Date.parse(b.from), toMs: Date.parse(b.to), priority: b.priority, reason: b.reason ?? null, by: c.var.session.user, ...(b.quality ? { quality: b.quality } : {}) });
      ops?.recordAudit({ user: c.var.session.user, action: "retrieval", siteId: p.siteId, cameraId: b.cameraId, fromMs: Date.parse(b.from), toMs: Date.parse(b.to), outcome: "ok", detail: { retrievalId: r.id, priority: b.priority } } as never);
      return c.json(r, 201);
    } catch (e) {
      return problem(e);
    }
  });
  api.route({ method: "get", path: "/api/v1/retrievals", summary: "Retrievals of the cameras you may see", tag, rights: { user: "filtered" } }, async (c) => {
    const cam = c.req.query("cameraId");
    const parts = cam ? splitCentralCameraId(cam) : null;
    if (cam && !parts) throw badRequest("cameraId must be a central camera id (<site>.<camera>).");
    const list = await engine.retrievals.listRetrievals({ siteId: parts?.siteId ?? c.req.query("siteId"), cameraId: parts?.cameraId, state: c.req.query("state") });
    return c.json({ retrievals: rights ? list.filter((r) => rights.canSeeCamera(c.var.session, r.cameraId, r.siteId)) : list });
  });
  api.route({ method: "get", path: "/api/v1/retrievals/:id", summary: "One retrieval with progress and ETA", tag, rights: { right: "any", resource: "retrieval", target: retrievalTarget } }, async (c) => {
    const r = await engine.retrievals.getRetrieval(c.req.param("id"));
    if (!r || (rights && !rights.canSeeCamera(c.var.session, r.cameraId, r.siteId))) throw notFound(`No retrieval ${c.req.param("id")}.`);
    return c.json(r);
  });
  api.route({ method: "delete", path: "/api/v1/retrievals/:id", summary: "Cancel a retrieval", tag, rights: { right: "retrieve", resource: "retrieval", target: retrievalTarget } }, async (c) => {
    const r = await engine.retrievals.getRetrieval(c.req.param("id"));
    if (!r || (rights && !rights.canSeeCamera(c.var.session, r.cameraId, r.siteId))) throw notFound(`No retrieval ${c.req.param("id")}.`);
    check(c, "retrieve", { site: r.siteId, camera: r.cameraId });
    return c.json(await engine.retrievals.cancelRetrieval(r.id));
  });

  // What a retrieval would cost, before it starts ("≈ 48 MB of the 1 GB left this month").
  api.route({ method: "get", path: "/api/v1/cameras/:id/retrieval-estimate", summary: "Bytes a retrieval of a window would move per stream (main, sub), against the active link's budget left this month", tag, rights: { right: "retrieve", camera: ":id" } }, async (c) => {
    const p = await camParts(c.req.param("id"));
    const to = time(c, "to", NaN);
    const from = time(c, "from", NaN);
    if (!Number.isFinite(from) || !Number.isFinite(to)) throw badRequest("The query parameters 'from' and 'to' are required.");
    if (!(to > from) || to - from > 31 * 86_400_000) throw badRequest("'to' must be after 'from', at most 31 days later.");
    const e = await engine.budget.estimate(p.siteId, p.cameraId, from, to);
    const mb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${Math.round(n / 1e6)} MB` : `${Math.round(n / 1e3)} kB`);
    const text = (bytes: number) => (e.budget ? `≈ ${mb(bytes)} of the ${mb(e.budget.remainingBytes)} left this month on ${e.link}` : `≈ ${mb(bytes)}${e.link ? ` on ${e.link} (no budget)` : ""}`);
    return c.json({
      cameraId: c.req.param("id"),
      from: iso(from),
      to: iso(to),
      link: e.link,
      budget: e.budget,
      streams: Object.fromEntries(Object.entries(e.streams).map(([s, v]) => [s, { ...v, fits: !e.budget || v.bytes <= e.budget.remainingBytes, text: text(v.bytes) }])),
      // Per retrieval quality (progressive.ts): sub-then-main moves both streams' missing bytes.
      qualities: Object.fromEntries(
        [["main", e.streams.main?.bytes ?? 0], ["sub-then-main", (e.streams.main?.bytes ?? 0) + (e.streams.sub?.bytes ?? 0)]].map(([q, b]) => [q, { bytes: b, fits: !e.budget || (b as number) <= e.budget.remainingBytes, text: text(b as number) }]),
      ),
    });
  });

  // --- policies
  const setPolicy = async (c: Context<ApiEnv>, siteId: string, mutate: (cur: SitePolicy | null) => SitePolicy) => {
    const s = d.sites;
    const view = await s.configView(siteId);
    const cfg = { ...((view.desired?.config ?? {}) as Record<string, unknown>) };
    const next = SitePolicy.safeParse(mutate((cfg.policy as SitePolicy | undefined) ?? null));
    if (!next.success) throw badRequest(`The policy is not valid: ${next.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "policy"}: ${i.message}`).join("; ")}.`);
    cfg.policy = next.data;
    const version = await s.setDesired(siteId, cfg as never, c.var.session.user);
    ops?.recordAudit({ user: c.var.session.user, action: "config", subject: "site.policy", siteId, detail: { version } } as never);
    engine.wake();
    return c.json({ site: siteId, version, policy: next.data });
  };
  api.route({ method: "get", path: "/api/v1/sites/:id/policy", summary: "A site's interconnect policy (desired version and applied)", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    if (!d.sites.siteExists(id)) throw notFound(`No site with id ${id}.`);
    const v = await d.sites.configView(id);
    return c.json({ site: id, version: v.desired?.version ?? null, applied: v.applied, policy: (v.desired?.config as { policy?: unknown } | undefined)?.policy ?? null });
  });
  api.route({ method: "put", path: "/api/v1/sites/:id/policy", summary: "Set a site's interconnect policy (options, links, budgets; camera overrides kept)", tag, rights: { right: "admin-policies", site: ":id" }, bodyDoc: { type: "application/json", schema: SitePolicy } }, async (c) => {
    const id = c.req.param("id");
    if (!d.sites.siteExists(id)) throw notFound(`No site with id ${id}.`);
    check(c, "admin-policies", { site: id });
    const body = await jsonBody(c);
    const r = SitePolicy.safeParse(body);
    if (!r.success) throw badRequest(`The policy is not valid: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "policy"}: ${i.message}`).join("; ")}.`);
    // Camera overrides set through PUT /cameras/{id}/policy survive a site PUT that does not name them.
    return setPolicy(c, id, (cur) => ({ ...r.data, ...(r.data.cameras === undefined && cur?.cameras ? { cameras: cur.cameras } : {}) }));
  });
  api.route({ method: "put", path: "/api/v1/cameras/:id/policy", summary: "Set one camera's policy override", tag, rights: { right: "admin-policies", camera: ":id" }, bodyDoc: { type: "application/json", schema: CameraPolicy } }, async (c) => {
    const id = c.req.param("id");
    const p = await camParts(id);
    check(c, "admin-policies", { site: p.siteId, camera: id });
    const body = await jsonBody(c);
    if (body && typeof body === "object" && "budget" in body) throw badRequest("Budgets and links are per site: set them with PUT /api/v1/sites/{id}/policy.");
    const r = CameraPolicy.safeParse(body);
    if (!r.success) throw badRequest(`The policy is not valid: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "policy"}: ${i.message}`).join("; ")}.`);
    return setPolicy(c, p.siteId, (cur) => ({ ...(cur ?? { options: ["edge-only"] }), cameras: { ...(cur?.cameras ?? {}), [p.cameraId]: r.data } }));
  });
  api.route({ method: "delete", path: "/api/v1/cameras/:id/policy", summary: "Remove one camera's policy override", tag, rights: { right: "admin-policies", camera: ":id" } }, async (c) => {
    const id = c.req.param("id");
    const p = await camParts(id);
    check(c, "admin-policies", { site: p.siteId, camera: id });
    return setPolicy(c, p.siteId, (cur) => {
      const cams = { ...(cur?.cameras ?? {}) };
      delete cams[p.cameraId];
      return { ...(cur ?? { options: ["edge-only"] }), cameras: cams };
    });
  });
  api.route({ method: "get", path: "/api/v1/sites/:id/transfer", summary: "A site's link, monthly budget use and queued transfer by class", tag, rights: { right: "any", site: ":id" } }, async (c) => {
    const id = c.req.param("id");
    if (!d.sites.siteExists(id)) throw notFound(`No site with id ${id}.`);
    return c.json(await engine.budget.siteTransfer(id));
  });

  // --- evidence locks (cross-site)
  api.route({ method: "post", path: "/api/v1/evidence-locks", summary: "Lock a time range of a camera at the edge and at central; the footage is pulled at the highest priority you may ask for", tag, rights: { right: "evidence-lock", camera: "body.cameraId" }, body: LockPost, status: 201 }, async (c, { body: b }) => {
    const p = await camParts(b.cameraId);
    check(c, "evidence-lock", { site: p.siteId, camera: b.cameraId });
    // The lock's retrieval runs at the user's own retrieval cap: a lock is no way around it.
    const priority = rights.maxPriority(c.var.session, { site: p.siteId, camera: b.cameraId }) ?? "backfill";
    try {
      const l = await engine.locks.createLock({ cameraId: b.cameraId, fromMs: Date.parse(b.from), toMs: Date.parse(b.to), reason: b.reason, expiresAtMs: b.expiresAt ? Date.parse(b.expiresAt) : undefined, by: c.var.session.user, priority });
      return c.json(l, 201);
    } catch (e) {
      return problem(e);
    }
  });
  api.route({ method: "get", path: "/api/v1/evidence-locks", summary: "Evidence locks of the cameras you may see", tag, rights: { user: "filtered" } }, async (c) =>
    c.json({ locks: (await engine.locks.listLocks(c.req.query("cameraId"))).filter((l) => rights.canSeeCamera(c.var.session, l.cameraId as string, l.siteId as string)) }),
  );
  api.route({ method: "get", path: "/api/v1/evidence-locks/:id", summary: "One evidence lock: held at the edge, at central, its retrieval", tag, rights: { right: "any", resource: "evidence lock", target: lockTarget } }, async (c) => {
    const l = await engine.locks.lockView(c.req.param("id"));
    if (!l) throw notFound(`No evidence lock ${c.req.param("id")}.`);
    return c.json(l);
  });
  api.route({ method: "delete", path: "/api/v1/evidence-locks/:id", summary: "End an evidence lock", tag, rights: { right: "evidence-lock", resource: "evidence lock", target: lockTarget } }, async (c) => {
    const l = await engine.locks.lockView(c.req.param("id"));
    if (!l) throw notFound(`No evidence lock ${c.req.param("id")}.`);
    check(c, "evidence-lock", { site: l.siteId as string, camera: l.cameraId as string });
    return c.json(await engine.locks.endLock(c.req.param("id")));
  });

  // --- central playback
  const playback = new Playback({ source: flatSource(d.store) });
  const windowOf = async (c: Context<ApiEnv>, maxMs = 6 * 3_600_000) => {
    const id = c.req.param("id")!;
    const p = await camParts(id);
    check(c, "playback", { site: p.siteId, camera: id });
    const now = d.clock.now();
    const to = time(c, "to", now);
    const from = time(c, "from", to - 60_000);
    if (to <= from) throw badRequest("from must be before to.");
    if (to - from > maxMs) throw badRequest(`The window is at most ${Math.round(maxMs / 3_600_000)} hours.`);
    const q = c.req.query("stream") ?? "main";
    if (q !== "main" && q !== "sub" && q !== "best") throw badRequest('stream must be "main", "sub" or "best".');
    // best: the stream central holds more of now (best-stream.ts); nothing is retrieved for it.
    const stream: StreamKind = q === "best" ? await bestStream((i, s, f, t) => centralRanges(d.store, i, s, f, t), id, from, to) : q;
    const wait = q === "best" ? 0 : queryParam(c, "wait", intQuery({ min: 0, max: 60 }), 10);
    return { id, ...p, from, to, stream, wait, best: q === "best" };
  };
  // What central holds, segment by segment, with hashes (audit: compare with the edge's).
  api.route({ method: "get", path: "/api/v1/cameras/:id/segments", summary: "What central holds of a camera, segment by segment, with hashes", tag, rights: { right: "playback", camera: ":id" } }, async (c) => {
    const w = await windowOf(c, 31 * 86_400_000);
    const segs = (await holdings(d.store, w.id, w.stream, w.from, w.to)).closedIn(w.from, w.to);
    return c.json({ cameraId: w.id, stream: w.stream, segments: segs.map((s) => ({ start: iso(s.startMs), end: iso(s.endMs), startMs: s.startMs, endMs: s.endMs, bytes: s.bytes, sha256: s.sha256 ?? null })) });
  });

  /** Edge-only parts of the window are fetched first (request priority), up to `wait` seconds. */
  const fetchMissing = async (w: Awaited<ReturnType<typeof windowOf>>, user: string): Promise<string | null> => {
    const tl = await d.sites.timeline(w.siteId, w.cameraId, w.stream, w.from, w.to);
    if (!tl.ranges.some((r) => r.held === "edge")) return null;
    const rid = `pb-${Bun.hash(`${w.id}/${w.stream}/${w.from}/${w.to}`).toString(36)}`;
    let r = await engine.retrievals.getRetrieval(rid);
    if (!r) r = await engine.retrievals.createRetrieval({ id: rid, siteId: w.siteId, cameraId: w.cameraId, stream: w.stream, fromMs: w.from, toMs: w.to, priority: "request", reason: "playback", by: user }).catch(() => null);
    const end = Date.now() + w.wait * 1000;
    while (r && (r.state === "queued" || r.state === "running") && Date.now() < end) {
      await Bun.sleep(250);
      await engine.tick();
      r = await engine.retrievals.getRetrieval(rid);
    }
    return rid;
  };
  const video = async (c: Context<ApiEnv>) => {
    const w = await windowOf(c);
    const rid = w.best ? null : await fetchMissing(w, c.var.session.user);
    const plan = await playback.plan({ cameraId: w.id, stream: w.stream, fromMs: w.from, toMs: w.to });
    if (plan.total === 0) {
      if (rid) return c.json({ retrieval: await engine.retrievals.getRetrieval(rid), detail: "This footage is still only on the edge; a retrieval is running. Try again shortly." }, 202);
      throw notFound(`No recording of ${w.id} between ${iso(w.from)} and ${iso(w.to)}.`);
    }
    const headers = new Headers({ "content-type": "video/mp4", "accept-ranges": "bytes", "cache-control": "no-store", "x-outpost-start": iso(plan.originMs), "x-outpost-end": iso(plan.endMs) });
    if (rid) headers.set("x-outpost-retrieval", rid);
    headers.set("x-outpost-stream", w.stream);
    const reply = rangeReply(c.req.header("range"), plan.total, headers, c.req.path);
    if (reply instanceof Response) return reply;
    return new Response(await new Response(playback.stream(plan, reply.range)).arrayBuffer(), { status: reply.status, headers });
  };
  const playbackRule = { right: "playback", camera: ":id" } as const;
  api.route({ method: "get", path: "/api/v1/cameras/:id/video", summary: "Central playback of a window as one MP4 (Range); edge-only parts are retrieved first, up to `wait` s", tag, rights: playbackRule, produces: "video/mp4" }, video);
  api.route({ method: "get", path: "/api/v1/cameras/:id/video.mp4", summary: "Same as video", tag, rights: playbackRule, produces: "video/mp4" }, video);
  api.route({ method: "get", path: "/api/v1/cameras/:id/video.m3u8", summary: "Central playback as an HLS playlist over video.mp4 byte ranges", tag, rights: playbackRule, produces: "application/vnd.apple.mpegurl" }, async (c) => {
    const w = await windowOf(c);
    if (!w.best) await fetchMissing(w, c.var.session.user);
    const plan = await playback.plan({ cameraId: w.id, stream: w.stream, fromMs: w.from, toMs: w.to });
    if (plan.total === 0) throw notFound(`No recording of ${w.id} at central between ${iso(w.from)} and ${iso(w.to)} yet.`);
    const pinnedTo = Math.min(w.to, Math.floor(plan.lastStartMs) + 1);
    const q = new URLSearchParams({ from: iso(w.from), to: iso(pinnedTo), stream: w.stream, wait: "0" });
    return c.body(playback.playlist(plan, `video.mp4?${q}`), 200, { "content-type": "application/vnd.apple.mpegurl", "cache-control": "no-store" });
  });
}

