/**
 * Central's export: POST /api/v1/exports turns a window of footage central holds into one
 * evidence package (central/custody/export.ts) with the remuxed MP4 inside, answers it as the
 * download (its SHA-256 in X-Outpost-SHA256) and writes the export to the audit log. When
 * central holds nothing of the window yet, the same request starts (once) a retrieval from the
 * edge at the user's own retrieval cap and answers 202 with its progress; asking again
 * answers the package once the footage is at central.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { iso } from "../../lib/clock.ts";
import { Exporter, Playback } from "../../lib/playback/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ApiRouter } from "../index.ts";
import type { RetrievalPriority } from "../rights/index.ts";
import { centralEvidence, NothingToExport, type CentralEvidenceDeps } from "./export.ts";

const ExportPost = z.object({
  cameraId: z.string().min(3).max(300),
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  stream: z.enum(["main", "sub"]).default("main"),
  reason: z.string().max(500).optional(),
});

const MAX_WINDOW_MS = 6 * 3_600_000;

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
  },
): void {
  let exporter: Exporter | null = null;
  api.route(
    { method: "post", path: "/api/v1/exports", summary: "Export a window of footage held at central as an evidence package (ZIP: MP4, segments, hash chain, signatures, certificates, audit); X-Outpost-SHA256 is its SHA-256", tag: "custody", rights: { right: "export", camera: "body.cameraId" }, body: ExportPost, produces: "application/zip", status: 200 },
    async (c, { body: b }) => {
      const fromMs = Date.parse(b.from);
      const toMs = Date.parse(b.to);
      if (toMs <= fromMs) throw badRequest("from must be before to.");
      if (toMs - fromMs > MAX_WINDOW_MS) throw badRequest("An export window is at most 6 hours.");
      const parts = splitCentralCameraId(b.cameraId);
      if (!parts) throw notFound(`No camera ${b.cameraId} (central camera ids are <site>.<camera>).`);
      const deps = await d.deps();
      if (!(await deps.store.segments({ cameraId: b.cameraId, stream: b.stream, fromMs, toMs })).some((s) => !s.open)) {
        const priority = api.ops.rights.maxPriority(c.var.session, { site: parts.siteId, camera: b.cameraId });
        if (!priority) throw notFound(`Central holds no recording of ${b.cameraId} between ${iso(fromMs)} and ${iso(toMs)}, and you may not retrieve it from the edge.`);
        const id = `ex-${Bun.hash(`${b.cameraId}/${b.stream}/${fromMs}/${toMs}`).toString(36)}`;
        const r = await d.retrieve({ id, siteId: parts.siteId, cameraId: parts.cameraId, stream: b.stream, fromMs, toMs, priority, by: c.var.session.user });
        return c.json({ state: "retrieving", retrieval: { id: r.id, state: r.state, progress: r.progress, etaSeconds: r.etaSeconds }, detail: `The footage is being retrieved from the edge (${r.progress} %); ask again when it is at central.` }, 202);
      }
      const dir = join(d.dataDir, "exports");
      await mkdir(dir, { recursive: true });
      exporter ??= new Exporter({ playback: new Playback({ source: deps.store }), dir, clock: deps.clock });
      const job = await exporter.start({ cameraId: b.cameraId, stream: b.stream, fromMs, toMs });
      const done = await exporter.wait(job.id);
      const footagePath = done?.state === "done" ? exporter.file(job.id) : undefined;
      const user = c.var.session.user;
      let pkg;
      try {
        pkg = await centralEvidence(deps, { cameraId: b.cameraId, stream: b.stream, fromMs, toMs, user, ...(b.reason ? { reason: b.reason } : {}), ...(footagePath ? { footagePath } : {}) });
      } catch (e) {
        if (e instanceof NothingToExport) throw notFound(e.message);
        throw e;
      }
      api.ops.recordAudit({ user, action: "export", siteId: parts.siteId, cameraId: b.cameraId, fromMs, toMs, outcome: "ok", detail: { sha256: pkg.sha256, bytes: pkg.zip.length, segments: pkg.manifest.segments.length, site: pkg.manifest.siteId } } as never);
      const name = `${b.cameraId}_${iso(fromMs).replace(/[:.]/g, "-")}_evidence.zip`;
      return new Response(pkg.zip as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/zip", "content-disposition": `attachment; filename="${name}"`, "x-outpost-sha256": pkg.sha256 } });
    },
  );
}
