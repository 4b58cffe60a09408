/**
 * Export of a window to ONE regular MP4 (moov first, +faststart) as a background job with
 * progress. Two steps: the window's fMP4 bytes are written to a temporary file (seekable, so
 * ffmpeg can cut exactly at the window start: it keeps the keyframe pre-roll and writes an
 * edit list), then `ffmpeg -c copy` remuxes it. Stream copy only; nothing is decoded.
 * Jobs run one at a time (exports are I/O heavy and the appliance is small). Every job is
 * described by <dir>/<id>.json (beside <dir>/<id>.mp4 once done), written durably when it is
 * requested and when it ends, so a crash loses none: at the next start unfinished jobs run
 * again from the beginning, or fail with a reason when their recording is gone.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { isAtomicTmp, writeFileAtomic } from "../fsutil.ts";
import { join } from "node:path";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log/index.ts";
import type { StreamKind } from "../store/types.ts";
import { planChunks } from "./body.ts";
import type { PlaybackPlan } from "./plan.ts";
import type { Playback, WindowQuery } from "./playback.ts";

export type ExportState = "queued" | "running" | "done" | "failed";

export interface ExportJob {
  id: string;
  cameraId: string;
  stream: StreamKind;
  fromMs: number;
  toMs: number;
  state: ExportState;
  /** 0–100. */
  progress: number;
  /** Bytes of the window gathered so far / in total (the intermediate fMP4). */
  bytesDone: number;
  bytesTotal: number;
  /** Size of the finished MP4. */
  sizeBytes?: number;
  error?: string;
  /** Times the job was started again after the recorder restarted in the middle of it. */
  restarts?: number;
  createdAtMs: number;
  finishedAtMs?: number;
}

export class ExportError extends Error {}

export interface ExporterOptions {
  playback: Playback;
  /** The data dir's exports folder. */
  dir: string;
  clock: Clock;
  log?: Logger;
}

/** Share of progress given to gathering bytes; the remux takes the rest. */
const GATHER = 90;

export class Exporter {
  private jobs = new Map<string, ExportJob>();
  private waiters = new Map<string, Promise<void>>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ExporterOptions) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(opts.dir)) {
      const full = join(opts.dir, name);
      if (name.endsWith(".tmp") || isAtomicTmp(name)) {
        rmSync(full, { force: true }); // leftovers of a job interrupted by a restart
        continue;
      }
      if (!name.endsWith(".json")) continue;
      try {
        const job = JSON.parse(readFileSync(full, "utf8")) as ExportJob;
        this.jobs.set(job.id, job);
        if (job.state === "queued" || job.state === "running") this.resume(job);
      } catch (e) {
        opts.log?.warn("unreadable export record ignored", { path: full, err: (e as Error).message });
      }
    }
  }

  /** Plans the window now (so an empty window fails at once) and queues the job. */
  async start(q: WindowQuery): Promise<ExportJob> {
    const plan = await this.opts.playback.plan(q);
    if (plan.total === 0) throw new ExportError("There is no recording in this window to export.");
    const job: ExportJob = {
      id: randomUUID(),
      cameraId: q.cameraId,
      stream: q.stream ?? "main",
      fromMs: q.fromMs,
      toMs: q.toMs,
      state: "queued",
      progress: 0,
      bytesDone: 0,
      bytesTotal: plan.total,
      createdAtMs: this.opts.clock.now(),
    };
    // Durable before it is acknowledged: a crash from here on resumes the job, never loses it.
    await this.persist(job);
    this.jobs.set(job.id, job);
    this.enqueue(job, async () => plan);
    return { ...job };
  }

  /** A job the previous run did not finish: run it again from the start (plan anew). */
  private resume(job: ExportJob): void {
    Object.assign(job, { state: "queued", progress: 0, bytesDone: 0, restarts: (job.restarts ?? 0) + 1 });
    this.opts.log?.warn("export interrupted by a restart; running it again", { export: job.id, camera: job.cameraId });
    this.enqueue(job, async () => {
      const plan = await this.opts.playback.plan({ cameraId: job.cameraId, stream: job.stream, fromMs: job.fromMs, toMs: job.toMs });
      if (plan.total === 0) throw new ExportError("the recording of this window is no longer on this recorder (deleted while the export was interrupted)");
      job.bytesTotal = plan.total;
      return plan;
    });
  }

  private enqueue(job: ExportJob, plan: () => Promise<PlaybackPlan>): void {
    const run = this.chain.then(async () => {
      let p: PlaybackPlan;
      try {
        p = await plan();
      } catch (e) {
        job.state = "failed";
        job.error = (e as Error).message;
        job.finishedAtMs = this.opts.clock.now();
        this.opts.log?.error("export failed", { export: job.id, err: job.error });
        await this.persist(job).catch(() => undefined);
        return;
      }
      await this.run(job, p);
    });
    this.chain = run.catch(() => {});
    this.waiters.set(job.id, run.catch(() => {}));
  }

  private persist(job: ExportJob): Promise<void> {
    const file = join(this.opts.dir, `${job.id}.json`);
    return writeFileAtomic(file, JSON.stringify(job));
  }

  get(id: string): ExportJob | undefined {
    const j = this.jobs.get(id);
    return j && { ...j };
  }

  list(): ExportJob[] {
    return [...this.jobs.values()].map((j) => ({ ...j }));
  }

  /** Path of the finished MP4, if the job is done and its file is still there. */
  file(id: string): string | undefined {
    const j = this.jobs.get(id);
    if (!j || j.state !== "done") return undefined;
    const p = this.mp4Path(id);
    try {
      statSync(p);
      return p;
    } catch {
      return undefined;
    }
  }

  /** Resolves when the job has finished (done or failed). */
  async wait(id: string): Promise<ExportJob | undefined> {
    await this.waiters.get(id);
    return this.get(id);
  }

  private mp4Path(id: string): string {
    return join(this.opts.dir, `${id}.mp4`);
  }

  private async run(job: ExportJob, plan: PlaybackPlan): Promise<void> {
    const log = this.opts.log?.child({ camera: job.cameraId, export: job.id });
    const src = join(this.opts.dir, `${job.id}.fmp4.tmp`);
    const dst = join(this.opts.dir, `${job.id}.mp4.tmp`);
    job.state = "running";
    try {
      const w = Bun.file(src).writer();
      for await (const chunk of planChunks(plan)) {
        w.write(chunk);
        job.bytesDone += chunk.length;
        job.progress = Math.floor((GATHER * job.bytesDone) / Math.max(1, job.bytesTotal));
        await w.flush();
      }
      await w.end();
      const prerollS = Math.max(0, plan.fromMs - plan.originMs) / 1000;
      const durS = (plan.toMs - Math.max(plan.fromMs, plan.originMs)) / 1000;
      const args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", prerollS.toFixed(3), "-i", src, "-t", durS.toFixed(3), "-map", "0", "-c", "copy", "-movflags", "+faststart", "-progress", "pipe:1", "-f", "mp4", dst];
      const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
      const errText = new Response(p.stderr).text();
      const decoder = new TextDecoder();
      for await (const chunk of p.stdout) {
        const m = /out_time_us=(\d+)/g;
        for (const hit of decoder.decode(chunk).matchAll(m)) {
          const done = Number(hit[1]) / 1e6 / Math.max(0.001, durS);
          job.progress = Math.max(job.progress, Math.min(99, GATHER + Math.floor((100 - GATHER) * done)));
        }
      }
      const code = await p.exited;
      if (code !== 0) throw new Error(`ffmpeg exited with ${code}: ${(await errText).trim().split("\n").pop() ?? ""}`);
      renameSync(dst, this.mp4Path(job.id));
      job.sizeBytes = statSync(this.mp4Path(job.id)).size;
      job.state = "done";
      job.progress = 100;
      log?.info("export finished", { bytes: job.sizeBytes });
    } catch (e) {
      job.state = "failed";
      job.error = (e as Error).message;
      rmSync(dst, { force: true });
      log?.error("export failed", { err: job.error });
    } finally {
      rmSync(src, { force: true });
      job.finishedAtMs = this.opts.clock.now();
      await this.persist(job).catch((e) => log?.error("export record not written", { err: (e as Error).message }));
    }
  }
}
