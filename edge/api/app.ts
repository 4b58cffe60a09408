/**
 * The edge's local HTTP API (Hono, /api/v1). Wiring only: validation with the zod schemas,
 * problem+json errors, sessions; playback/export/snapshot come from lib/playback and
 * recordings and locks from the store. Never writes media.
 */
import { Hono, type Context } from "hono";
import { getConnInfo } from "hono/bun";
import { setCookie, deleteCookie } from "hono/cookie";
import { LoginThrottle, SESSION_COOKIE, Sessions, burnVerify, requestToken, requireSession, verifyPassword, type Session } from "../../lib/auth/index.ts";
import { iso } from "../../lib/clock.ts";
import { sameOriginOnly } from "../../lib/http/origin.ts";
import { HttpProblem, badRequest, conflict, notFound, onNotFound, onProblem, problemResponse, readJson } from "../../lib/http/problem.ts";
import { parseQuery, textGuard } from "../../lib/http/query.ts";
import { ExportError, Exporter, Playback, SnapshotError, rangeReply, snapshot, type ExportJob } from "../../lib/playback/index.ts";
import type { EvidenceLock, StreamKind } from "../../lib/store/types.ts";
import { openApiDocument } from "./openapi.ts";
import * as S from "./schemas.ts";
import type { CameraView, EdgeApiDeps } from "./types.ts";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/fsutil.ts";

const HOUR = 3_600_000;

export interface EdgeApi {
  /** Bun.serve({ fetch: api.fetch }) — the app's fetch, bound (Bun passes the server as env for client addresses). */
  fetch: (req: Request, server?: unknown) => Response | Promise<Response>;
  app: Hono<Env>;
  playback: Playback;
  exporter: Exporter;
  sessions: Sessions;
}

type Env = { Variables: { session: Session } };

export function createEdgeApi(deps: EdgeApiDeps): EdgeApi {
  const { store, clock, config } = deps;
  const log = deps.log.child({ component: "edge-api" });
  const maxVideo = config.maxVideoWindowMs ?? 24 * HOUR;
  const maxTimeline = config.maxTimelineWindowMs ?? 31 * 24 * HOUR;
  const maxLock = config.maxLockWindowMs ?? 7 * 24 * HOUR;
  const maxBuffered = config.bufferBodiesUpTo ?? 8 << 20;
  const playback = new Playback({ source: store, log });
  const exporter = new Exporter({ playback, dir: join(deps.dataDir, "exports"), clock, log });
  const sessions = new Sessions(clock, config.sessionTtlMs, config.sessionIdleMs);
  const throttle = new LoginThrottle(clock, config.loginThrottle);

  const warmMs = config.warmRecentMs ?? HOUR;
  if (warmMs > 0) {
    setTimeout(async () => {
      try {
        for (const r of await store.cameras()) await playback.warmWindow({ cameraId: r.cameraId, stream: r.stream, fromMs: r.lastMs - warmMs, toMs: r.lastMs + 1 });
      } catch (e) {
        log.warn("playback warm-up failed", { err: (e as Error).message });
      }
    }, 0);
  }

  const app = new Hono<Env>();
  app.onError(onProblem(log));
  app.use("*", textGuard);
  app.notFound(onNotFound);
  // CSRF and cross-site WebSocket hijacking (lib/http/origin.ts); also covers routes mounted later (live, events).
  app.use("*", sameOriginOnly({ cookieName: SESSION_COOKIE, allowedOrigins: config.allowedOrigins }));
  const api = new Hono<Env>();

  // --- open endpoints ---------------------------------------------------------------
  api.get("/openapi.json", (c) => c.json(openApiDocument()));

  api.get("/health", async (c) => {
    const live = { status: "ok" as const, time: iso(clock.now()) };
    if (!sessions.get(requestToken(c))) return c.json(live);
    return c.json({ ...live, ...(await deps.health()) });
  });

  api.post("/login", async (c) => {
    const body = await readJson(c, S.LoginBody);
    const admin = config.admin;
    if (!admin) throw new HttpProblem(503, "No local admin", "No local admin is configured on this edge; set admin.user and admin.passwordHash in its config.");
    const t = throttle.begin(body.user.toLowerCase(), clientAddress(c));
    if (!t.ok) {
      const res = problemResponse(new HttpProblem(429, "Too many failed logins", `Too many failed logins; try again in ${Math.ceil(t.retryAfterMs / 1000)} s.`), c.req.path);
      res.headers.set("retry-after", String(Math.ceil(t.retryAfterMs / 1000)));
      return res;
    }
    const ok = body.user === admin.user ? await verifyPassword(body.password, admin.passwordHash) : (await burnVerify(body.password), false);
    if (!ok) {
      t.attempt.fail();
      log.warn("failed login", { user: body.user, from: clientAddress(c) });
      throw new HttpProblem(401, "Unauthorized", "Wrong user name or password.");
    }
    t.attempt.succeed();
    const s = sessions.create(admin.user);
    setCookie(c, SESSION_COOKIE, s.token, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/api",
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: Math.floor(sessions.ttlMs / 1000),
    });
    log.info("login", { user: s.user });
    return c.json({ token: s.token, user: s.user, expiresAt: iso(s.expiresAtMs) });
  });

  // --- everything below needs a session ----------------------------------------------
  api.use("*", requireSession(sessions));

  api.post("/logout", (c) => {
    sessions.revoke(c.var.session.token);
    deleteCookie(c, SESSION_COOKIE, { path: "/api" });
    return c.body(null, 204);
  });

  api.get("/cameras", async (c) => {
    const rec = await recordedByStream();
    return c.json({ cameras: deps.cameras().map((cam) => cameraOut(cam, rec)) });
  });

  api.get("/cameras/:id", async (c) => {
    const cam = await findCamera(c.req.param("id"));
    return c.json(cameraOut(cam, await recordedByStream()));
  });

  api.get("/cameras/:id/timeline", async (c) => {
    const cam = await findCamera(c.req.param("id"));
    const w = windowOf(c, maxTimeline, "timeline");
    // Ranges from the store's cached coverage; only the number of segments is asked of the index.
    const t = await store.timeline({ cameraId: cam.id, stream: w.stream, fromMs: w.fromMs, toMs: w.toMs }, { segments: "count" });
    return c.json({
      cameraId: cam.id,
      stream: w.stream,
      from: iso(w.fromMs),
      to: iso(w.toMs),
      ranges: t.ranges.map((r) => ({ start: iso(r.startMs), end: iso(r.endMs) })),
      gaps: t.gaps.map((g) => ({ start: iso(g.startMs), end: iso(g.endMs), reason: g.reason, ...(g.detail ? { detail: g.detail } : {}) })),
      segments: t.segmentCount ?? t.segments.length,
    });
  });

  // `video.mp4` is the same resource under a name with an extension: HLS clients (ffmpeg) refuse
  // media URIs without a known one, so the playlist points there.
  const video = async (c: Context<Env>) => {
    const cam = await findCamera(c.req.param("id")!);
    const w = windowOf(c, maxVideo, "video");
    const q = { cameraId: cam.id, stream: w.stream, fromMs: w.fromMs, toMs: w.toMs };
    // A whole body far over maxBuffered goes out chunked anyway: start it before the whole window
    // is scanned (cold time-to-first-byte). Ranges and HEAD need the exact length: full plan.
    const opened = c.req.method === "GET" && !c.req.header("range") ? await playback.open(q, 2 * maxBuffered) : undefined;
    if (opened === null) throw noRecording(cam.id, w);
    if (opened && "progressive" in opened) {
      const p = opened.progressive;
      return new Response(p.body, {
        headers: { "content-type": "video/mp4", "accept-ranges": "bytes", "cache-control": p.live ? "no-store" : "private, max-age=60", "x-outpost-start": iso(p.originMs), "x-outpost-end": iso(p.endMs) },
      });
    }
    const plan = opened?.plan ?? (await playback.plan(q));
    if (plan.total === 0) throw noRecording(cam.id, w);
    const headers = new Headers({
      "content-type": "video/mp4",
      "accept-ranges": "bytes",
      "cache-control": plan.live ? "no-store" : "private, max-age=60",
      "x-outpost-start": iso(plan.originMs),
      "x-outpost-end": iso(plan.endMs),
    });
    const reply = rangeReply(c.req.header("range"), plan.total, headers, c.req.path);
    if (reply instanceof Response) return reply;
    const { range: r, status } = reply;
    if (c.req.method === "HEAD") return new Response(null, { status, headers });
    // Bun.serve drops Content-Length on streamed bodies (oven-sh/bun#10507) and sends them chunked;
    // small bodies are gathered first so they keep an exact length. Ranges always carry Content-Range.
    if (r.end - r.start <= maxBuffered) return new Response(await new Response(playback.stream(plan, r)).arrayBuffer(), { status, headers });
    return new Response(playback.stream(plan, r), { status, headers });
  };
  api.get("/cameras/:id/video", video);
  api.get("/cameras/:id/video.mp4", video);

  api.get("/cameras/:id/video.m3u8", async (c) => {
    const cam = await findCamera(c.req.param("id"));
    const w = windowOf(c, maxVideo, "video");
    const plan = await playback.plan({ cameraId: cam.id, stream: w.stream, fromMs: w.fromMs, toMs: w.toMs });
    if (plan.total === 0) throw noRecording(cam.id, w);
    // Pin `to` just past the last fragment's start, so fragments recorded later cannot shift the byte ranges.
    const pinnedTo = Math.min(w.toMs, Math.floor(plan.lastStartMs) + 1);
    const q = new URLSearchParams({ from: iso(w.fromMs), to: iso(pinnedTo), stream: w.stream });
    const body = playback.playlist(plan, `video.mp4?${q}`);
    return c.body(body, 200, { "content-type": "application/vnd.apple.mpegurl", "cache-control": "no-store" });
  });

  api.get("/cameras/:id/snapshot.jpg", async (c) => {
    const cam = await findCamera(c.req.param("id"));
    const q = parseQuery(c, S.StreamQuery);
    try {
      const snap = await snapshot(store, cam.id, q.stream ?? "main", clock.now());
      return new Response(snap.jpeg as Uint8Array<ArrayBuffer>, { headers: { "content-type": "image/jpeg", "cache-control": "no-store", "x-outpost-time": iso(snap.atMs) } });
    } catch (e) {
      if (e instanceof SnapshotError) throw e.kind === "no-recording" ? notFound(e.message) : new HttpProblem(500, "Snapshot failed", e.message);
      throw e;
    }
  });

  api.post("/exports", async (c) => {
    const body = await readJson(c, S.ExportBody);
    const cam = await findCamera(body.cameraId);
    const w = checkWindow(Date.parse(body.from), Date.parse(body.to), maxVideo, "export", body.stream ?? "main");
    try {
      const job = await exporter.start({ cameraId: cam.id, stream: w.stream, fromMs: w.fromMs, toMs: w.toMs });
      c.header("location", `/api/v1/exports/${job.id}`);
      return c.json(exportOut(job), 202);
    } catch (e) {
      if (e instanceof ExportError) throw noRecording(cam.id, w);
      throw e;
    }
  });

  api.get("/exports", (c) => c.json({ exports: exporter.list().sort((a, b) => b.createdAtMs - a.createdAtMs).map(exportOut) }));

  api.get("/exports/:id", (c) => {
    const job = exporter.get(c.req.param("id"));
    if (!job) throw notFound(`There is no export '${c.req.param("id")}'.`);
    return c.json(exportOut(job));
  });

  /** The export `id` when it is done; otherwise the problem that says why not. */
  const finishedExport = (id: string) => {
    const job = exporter.get(id);
    if (!job) throw notFound(`There is no export '${id}'.`);
    if (job.state === "failed") throw conflict(`Export ${id} failed: ${job.error ?? "unknown error"}.`);
    if (job.state !== "done") throw conflict(`Export ${id} is not finished yet (${job.progress} %).`);
    return job;
  };

  api.get("/exports/:id/file", (c) => {
    const id = c.req.param("id");
    const job = finishedExport(id);
    const path = exporter.file(id);
    if (!path) throw notFound(`The file of export ${id} is no longer on this edge.`);
    const name = `${job.cameraId}_${iso(job.fromMs).replace(/[:.]/g, "-")}.mp4`;
    // Bun answers Range on a file response by itself.
    return new Response(Bun.file(path), { headers: { "content-type": "video/mp4", "content-disposition": `attachment; filename="${name}"` } });
  });

  api.get("/exports/:id/package", async (c) => {
    const id = c.req.param("id");
    const job = finishedExport(id);
    const path = exporter.file(id);
    if (!path || !deps.evidence) throw notFound(`The evidence package of export ${id} cannot be made on this edge (its file is gone or custody is off).`);
    // Built once, then served from disk: the package (and its SHA-256) must not change between downloads.
    const zipPath = join(deps.dataDir, "exports", `${id}.zip`);
    const shaPath = `${zipPath}.sha256`;
    if (!(await Bun.file(shaPath).exists())) {
      const built = await deps.evidence({ cameraId: job.cameraId, stream: job.stream, fromMs: job.fromMs, toMs: job.toMs, footagePath: path, exportedBy: c.var.session.user, exportId: id });
      await writeFileAtomic(zipPath, built.zip);
      await writeFileAtomic(shaPath, built.sha256);
      log.info("evidence package made", { export: id, user: c.var.session.user, sha256: built.sha256, bytes: built.zip.length });
    }
    const sha = (await Bun.file(shaPath).text()).trim();
    const name = `${job.cameraId}_${iso(job.fromMs).replace(/[:.]/g, "-")}_evidence.zip`;
    return new Response(Bun.file(zipPath), { headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${name}"`, "x-outpost-sha256": sha } });
  });

  api.post("/evidence-locks", async (c) => {
    const body = await readJson(c, S.LockBody);
    const cam = await findCamera(body.cameraId);
    const w = checkWindow(Date.parse(body.from), Date.parse(body.to), maxLock, "lock", "main");
    const expiresAtMs = body.expiresAt ? Date.parse(body.expiresAt) : undefined;
    if (expiresAtMs !== undefined && expiresAtMs <= clock.now()) throw badRequest(`expiresAt (${body.expiresAt}) is in the past; a lock must expire in the future or not at all.`);
    const lock = await store.createLock({ cameraId: cam.id, startMs: w.fromMs, endMs: w.toMs, reason: body.reason, createdBy: c.var.session.user, expiresAtMs });
    log.info("evidence lock created", { camera: cam.id, lock: lock.id, user: c.var.session.user });
    c.header("location", `/api/v1/evidence-locks/${lock.id}`);
    return c.json(lockOut(lock), 201);
  });

  api.get("/evidence-locks", async (c) => {
    const q = parseQuery(c, S.LockQuery);
    return c.json({ locks: (await store.locks(q.cameraId)).map(lockOut) });
  });

  api.get("/evidence-locks/:id", async (c) => {
    const lock = (await store.locks()).find((l) => l.id === c.req.param("id"));
    if (!lock) throw notFound(`There is no evidence lock '${c.req.param("id")}'.`);
    return c.json(lockOut(lock));
  });

  api.delete("/evidence-locks/:id", async (c) => {
    const id = c.req.param("id");
    const known = (await store.locks()).some((l) => l.id === id);
    if (!known || !(await store.deleteLock(id))) throw notFound(`There is no evidence lock '${id}'.`);
    log.info("evidence lock released", { lock: id, user: c.var.session.user });
    return c.body(null, 204);
  });

  app.route("/api/v1", api);
  return { fetch: (req, server) => app.fetch(req, server), app, playback, exporter, sessions };

  // --- helpers ------------------------------------------------------------------------

  async function findCamera(id: string): Promise<CameraView> {
    const cam = deps.cameras().find((x) => x.id === id);
    if (cam) return cam;
    // A camera removed from the config can still have recordings worth playing.
    if ((await store.cameras()).some((x) => x.cameraId === id)) return { id, name: id, streams: [] };
    throw notFound(`There is no camera '${id}' on this recorder.`);
  }

  async function recordedByStream() {
    const m = new Map<string, { first: string; last: string; bytes: number; segments: number }>();
    for (const r of await store.cameras()) m.set(`${r.cameraId}/${r.stream}`, { first: iso(r.firstMs), last: iso(r.lastMs), bytes: r.bytes, segments: r.segments });
    return m;
  }

  function cameraOut(cam: CameraView, rec: Map<string, { first: string; last: string; bytes: number; segments: number }>) {
    return {
      id: cam.id,
      name: cam.name,
      streams: cam.streams.map((s) => ({
        stream: s.stream,
        status: s.status,
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.sinceMs !== undefined ? { since: iso(s.sinceMs) } : {}),
        ...(s.codec ? { codec: s.codec } : {}),
        ...(s.width ? { width: s.width, height: s.height } : {}),
        ...(s.writerLagMs !== undefined ? { writerLagMs: s.writerLagMs } : {}),
        ...(s.audio ? { audio: s.audio } : {}),
        ...(rec.has(`${cam.id}/${s.stream}`) ? { recorded: rec.get(`${cam.id}/${s.stream}`) } : {}),
      })),
    };
  }
}

interface Window {
  fromMs: number;
  toMs: number;
  stream: StreamKind;
}

function windowOf(c: Context, maxMs: number, what: string): Window {
  const q = parseQuery(c, S.WindowQuery);
  return checkWindow(Date.parse(q.from), Date.parse(q.to), maxMs, what, q.stream ?? "main");
}

function checkWindow(fromMs: number, toMs: number, maxMs: number, what: string, stream: StreamKind): Window {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw badRequest("from and to must be valid ISO 8601 times.");
  if (toMs <= fromMs) throw badRequest(`The window is inverted or empty: 'to' (${iso(toMs)}) must be after 'from' (${iso(fromMs)}).`);
  if (toMs - fromMs > maxMs) throw badRequest(`The window is ${human(toMs - fromMs)} long; a ${what} window may be at most ${human(maxMs)}. Ask for a shorter window.`);
  return { fromMs, toMs, stream };
}

function human(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${+(ms / 86_400_000).toFixed(1)} days`;
  if (ms >= 2 * HOUR) return `${+(ms / HOUR).toFixed(1)} h`;
  if (ms >= 120_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 1000).toFixed(1)} s`;
}

function noRecording(cameraId: string, w: Window): HttpProblem {
  return notFound(`Camera ${cameraId} has no recording on its ${w.stream} stream between ${iso(w.fromMs)} and ${iso(w.toMs)}.`);
}

function exportOut(j: ExportJob) {
  return {
    id: j.id,
    cameraId: j.cameraId,
    stream: j.stream,
    from: iso(j.fromMs),
    to: iso(j.toMs),
    state: j.state,
    progress: j.progress,
    bytesDone: j.bytesDone,
    bytesTotal: j.bytesTotal,
    ...(j.sizeBytes !== undefined ? { sizeBytes: j.sizeBytes } : {}),
    ...(j.error ? { error: j.error } : {}),
    createdAt: iso(j.createdAtMs),
    ...(j.finishedAtMs !== undefined ? { finishedAt: iso(j.finishedAtMs) } : {}),
    ...(j.state === "done" ? { download: `/api/v1/exports/${j.id}/file`, package: `/api/v1/exports/${j.id}/package` } : {}),
  };
}

function lockOut(l: EvidenceLock) {
  return {
    id: l.id,
    cameraId: l.cameraId,
    from: iso(l.startMs),
    to: iso(l.endMs),
    reason: l.reason,
    createdBy: l.createdBy,
    createdAt: iso(l.createdAtMs),
    ...(l.expiresAtMs !== undefined ? { expiresAt: iso(l.expiresAtMs) } : {}),
  };
}

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown"; // not served by Bun.serve (e.g. app.request in a script)
  }
}
