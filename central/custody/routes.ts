/**
 * Central's export: POST /api/v1/exports turns a window of footage central holds into one
 * evidence package (central/custody/export.ts) with the remuxed MP4 inside, answers it as the
 * download (its SHA-256 in X-Outpost-SHA256) and writes the export to the audit log. When
 * central holds nothing of the window yet, the same request starts (once) a retrieval from the
 * edge at the user's own retrieval cap and answers 202 with its progress; asking again
 * answers the package once the footage is at central.
 *
 * With `Prefer: respond-async` (the web client) the same POST makes an export job instead
 * (central/custody/jobs.ts): answered 202 at once, listed by GET /api/v1/exports, retrieved
 * first when only the edge holds the window, downloadable from GET /api/v1/exports/{id}/file.
 */
import { mkdir } from "node:fs/promises";
import type { Context } from "hono";
import { join } from "node:path";
import { z } from "zod";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { iso, type Clock } from "../../lib/clock.ts";
import { Exporter, Playback } from "../../lib/playback/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiRouter } from "../index.ts";
import type { RetrievalPriority } from "../rights/index.ts";
import { centralEvidence, NothingToExport, type CentralEvidenceDeps } from "./export.ts";
import { CentralExportJobs, type ExportJobRecord } from "./jobs.ts";
import { holdings } from "../holdings/index.ts";
import type { Logger } from "../../lib/log/index.ts";

const ExportPost = z.object({
  cameraId: z.string().min(3).max(300),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  stream: z.enum(["main", "sub"]).default("main"),
  reason: z.string().max(500).optional(),
});

const MAX_WINDOW_MS = 6 * 3_600_000;

const ExportJobView = z.object({
  id: z.string(),
  cameraId: z.string(),
  stream: z.string(),
  from: z.string(),
  to: z.string(),
  state: z.enum(["retrieving", "building", "done", "failed"]),
  progress: z.number(),
  detail: z.string().optional(),
  sizeBytes: z.number().optional(),
  sha256: z.string().optional(),
  error: z.string().optional(),
  createdAt: z.string(),
  download: z.string().optional(),
});

function jobView(j: ExportJobRecord): z.infer<typeof ExportJobView> {
  return {
    id: j.id,
    cameraId: j.cameraId,
    stream: j.stream,
    from: iso(j.fromMs),
    to: iso(j.toMs),
    state: j.state,
    progress: j.progress,
    ...(j.detail ? { detail: j.detail } : {}),
    ...(j.bytes !== undefined ? { sizeBytes: j.bytes } : {}),
    ...(j.sha256 ? { sha256: j.sha256 } : {}),
    ...(j.error ? { error: j.error } : {}),
    createdAt: iso(j.createdMs),
    ...(j.state === "done" ? { download: `/api/v1/exports/${j.id}/file` } : {}),
  };
}

const evidenceName = (cameraId: string, fromMs: number) => `${cameraId}_${iso(fromMs).replace(/[:.]/g, "-")}_evidence.zip`;

export interface ExportRetrieval {
  id: string;
  state: string;
  progress: number;
  etaSeconds: number | null;
}

export function mountExports(
  api: ApiRouter,
  d: {
    dataDir: string;
    deps: () => Promise<CentralEvidenceDeps>;
    /** Starts (or returns, same id) the retrieval of an edge-only window. */
    retrieve: (r: { id: string; siteId: string; cameraId: string; stream: "main" | "sub"; fromMs: number; toMs: number; priority: RetrievalPriority; by: string }) => Promise<ExportRetrieval>;
    /** A retrieval's state, for export jobs waiting on one. */
    retrieval: (id: string) => Promise<{ state: string; progress: number; detail: string | null } | null>;
    log: Logger;
    clock: Clock;
  },
): { close(): void } {
  let exporter: Exporter | null = null;
  const dir = join(d.dataDir, "exports");
  /** The footage of the window as one evidence package (the MP4 remuxed from central's store inside). */
  const build = async (q: { cameraId: string; stream: "main" | "sub"; fromMs: number; toMs: number; user: string; reason?: string }) => {
    const deps = await d.deps();
    await mkdir(dir, { recursive: true });
    exporter ??= new Exporter({ playback: new Playback({ source: deps.store }), dir, clock: deps.clock });
    const job = await exporter.start({ cameraId: q.cameraId, stream: q.stream, fromMs: q.fromMs, toMs: q.toMs });
    const done = await exporter.wait(job.id);
    const footagePath = done?.state === "done" ? exporter.file(job.id) : undefined;
    return centralEvidence(deps, { ...q, ...(footagePath ? { footagePath } : {}) });
  };
  const held = async (q: { cameraId: string; stream: "main" | "sub"; fromMs: number; toMs: number }) => (await holdings((await d.deps()).store, q.cameraId, q.stream, q.fromMs, q.toMs)).closedIn(q.fromMs, q.toMs).length > 0;
  const retrievalId = (q: { cameraId: string; stream: string; fromMs: number; toMs: number }) => `ex-${Bun.hash(`${q.cameraId}/${q.stream}/${q.fromMs}/${q.toMs}`).toString(36)}`;
  const jobs = new CentralExportJobs({
    dir,
    clock: d.clock,
    log: d.log,
    held,
    retrieve: (j) => {
      const parts = splitCentralCameraId(j.cameraId)!;
      return d.retrieve({ id: retrievalId(j), siteId: parts.siteId, cameraId: parts.cameraId, stream: j.stream, fromMs: j.fromMs, toMs: j.toMs, priority: j.priority!, by: j.user });
    },
    retrieval: d.retrieval,
    build: async (j) => {
      try {
        return await build({ cameraId: j.cameraId, stream: j.stream, fromMs: j.fromMs, toMs: j.toMs, user: j.user, ...(j.reason ? { reason: j.reason } : {}) });
      } catch (e) {
        if (e instanceof NothingToExport) throw new Error(e.message);
        throw e;
      }
    },
    ended: (j) => {
      const parts = splitCentralCameraId(j.cameraId);
      api.ops.recordAudit({ user: j.user, action: "export", siteId: parts?.siteId, cameraId: j.cameraId, fromMs: j.fromMs, toMs: j.toMs, outcome: j.state === "done" ? "ok" : "failed", detail: { job: j.id, ...(j.sha256 ? { sha256: j.sha256, bytes: j.bytes } : { error: j.error }) } } as never);
    },
  });
  const ready = jobs.open().catch((e) => d.log.error("export jobs could not be loaded", { err: e as Error }));
  const jobTarget = async (c: Context) => {
    await ready;
    const j = jobs.get(c.req.param("id") ?? "");
    const parts = j ? splitCentralCameraId(j.cameraId) : null;
    return j && parts ? { camera: j.cameraId, site: parts.siteId } : null;
  };
  api.route({ method: "get", path: "/api/v1/exports", summary: "Your export jobs, newest first (state, progress, SHA-256 and download when done)", tag: "custody", rights: { user: "self" }, response: z.object({ exports: z.array(ExportJobView) }) }, async (c) => {
    await ready;
    return c.json({ exports: jobs.list(c.var.session.user).map(jobView) });
  });
  api.route({ method: "get", path: "/api/v1/exports/:id", summary: "One export job", tag: "custody", rights: { right: "export", resource: "export", target: jobTarget }, response: ExportJobView }, async (c) => c.json(jobView(jobs.get(c.req.param("id"))!)));
  api.route(
    { method: "get", path: "/api/v1/exports/:id/file", summary: "The finished evidence package (ZIP); X-Outpost-SHA256 is its SHA-256", tag: "custody", rights: { right: "export", resource: "export", target: jobTarget }, produces: "application/zip" },
    async (c) => {
      const j = jobs.get(c.req.param("id"))!;
      if (j.state !== "done") throw notFound(`Export ${j.id} is ${j.state}${j.error ? `: ${j.error}` : ""}; there is no file to download.`);
      const parts = splitCentralCameraId(j.cameraId);
      api.ops.recordAudit({ user: c.var.session.user, action: "export-download", siteId: parts?.siteId, cameraId: j.cameraId, fromMs: j.fromMs, toMs: j.toMs, outcome: "ok", detail: { job: j.id, sha256: j.sha256 } } as never);
      return new Response(Bun.file(jobs.file(j.id)), { headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${evidenceName(j.cameraId, j.fromMs)}"`, "x-outpost-sha256": j.sha256 ?? "" } });
    },
  );
  api.route(
    { method: "post", path: "/api/v1/exports", summary: "Export a window of footage held at central as an evidence package (ZIP: MP4, segments, hash chain, signatures, certificates, audit); X-Outpost-SHA256 is its SHA-256", tag: "custody", rights: { right: "export", camera: "body.cameraId" }, body: ExportPost, produces: "application/zip", status: 200 },
    async (c, { body: b }) => {
      const fromMs = Date.parse(b.from);
      const toMs = Date.parse(b.to);
      if (toMs <= fromMs) throw badRequest("from must be before to.");
      if (toMs - fromMs > MAX_WINDOW_MS) throw badRequest("An export window is at most 6 hours.");
      const parts = splitCentralCameraId(b.cameraId);
      if (!parts) throw notFound(`No camera ${b.cameraId} (central camera ids are <site>.<camera>).`);
      if (/respond-async/i.test(c.req.header("prefer") ?? "")) {
        await ready;
        const priority = api.ops.rights.maxPriority(c.var.session, { site: parts.siteId, camera: b.cameraId }) ?? null;
        const job = await jobs.create({ user: c.var.session.user, cameraId: b.cameraId, stream: b.stream, fromMs, toMs, priority, ...(b.reason ? { reason: b.reason } : {}) });
        return c.json(jobView(job), 202);
      }
      if (!(await held({ cameraId: b.cameraId, stream: b.stream, fromMs, toMs }))) {
        const priority = api.ops.rights.maxPriority(c.var.session, { site: parts.siteId, camera: b.cameraId });
        if (!priority) throw notFound(`Central holds no recording of ${b.cameraId} between ${iso(fromMs)} and ${iso(toMs)}, and you may not retrieve it from the edge.`);
        const r = await d.retrieve({ id: retrievalId({ cameraId: b.cameraId, stream: b.stream, fromMs, toMs }), siteId: parts.siteId, cameraId: parts.cameraId, stream: b.stream, fromMs, toMs, priority, by: c.var.session.user });
        return c.json({ state: "retrieving", retrieval: { id: r.id, state: r.state, progress: r.progress, etaSeconds: r.etaSeconds }, detail: `The footage is being retrieved from the edge (${r.progress} %); ask again when it is at central.` }, 202);
      }
      const user = c.var.session.user;
      let pkg;
      try {
        pkg = await build({ cameraId: b.cameraId, stream: b.stream, fromMs, toMs, user, ...(b.reason ? { reason: b.reason } : {}) });
      } catch (e) {
        if (e instanceof NothingToExport) throw notFound(e.message);
        throw e;
      }
      api.ops.recordAudit({ user, action: "export", siteId: parts.siteId, cameraId: b.cameraId, fromMs, toMs, outcome: "ok", detail: { sha256: pkg.sha256, bytes: pkg.zip.length, segments: pkg.manifest.segments.length, site: pkg.manifest.siteId } } as never);
      return new Response(pkg.zip as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${evidenceName(b.cameraId, fromMs)}"`, "x-outpost-sha256": pkg.sha256 } });
    },
  );
  return { close: () => jobs.close() };
}
