/**
 * Export jobs at central: an export the user can leave and come back to. A job is written to
 * disk before anything runs (DATA/exports/jobs/<id>.json, crash-safe), so a restart resumes it
 * or says it failed — it never just vanishes. Footage held only at an edge is retrieved first
 * (the job shows the retrieval's progress), then the evidence package is built into
 * DATA/exports/<id>.zip with its SHA-256. Knows nothing of HTTP; routes.ts serves it.
 */
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { iso, type Clock } from "../../lib/clock.ts";
import { writeFileAtomic } from "../../lib/fsutil.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { StreamKind } from "../../lib/store/index.ts";
import type { RetrievalPriority } from "../rights/index.ts";

export type ExportJobState = "retrieving" | "building" | "done" | "failed";

export interface ExportJobRecord {
  id: string;
  user: string;
  /** Central camera id `<site>.<camera>`. */
  cameraId: string;
  stream: StreamKind;
  fromMs: number;
  toMs: number;
  reason?: string;
  /** The user's retrieval cap when the job was made (an edge-only window is retrieved at it). */
  priority: RetrievalPriority | null;
  state: ExportJobState;
  progress: number;
  detail?: string;
  retrievalId?: string;
  sha256?: string;
  bytes?: number;
  error?: string;
  createdMs: number;
  doneMs?: number;
}

export interface ExportJobDeps {
  dir: string;
  clock: Clock;
  log: Logger;
  /** Does central hold closed footage of the window? */
  held(j: ExportJobRecord): Promise<boolean>;
  /** Starts (or returns, same id) the retrieval of the window from its edge. */
  retrieve(j: ExportJobRecord): Promise<{ id: string }>;
  retrieval(id: string): Promise<{ state: string; progress: number; detail: string | null } | null>;
  /** Builds the evidence package (throws NothingToExport-like errors with a sentence). */
  build(j: ExportJobRecord): Promise<{ zip: Uint8Array; sha256: string }>;
  /** The job ended (done or failed): the audit log records it. */
  ended(j: ExportJobRecord): void;
  pollMs?: number;
}

const FINAL = new Set<ExportJobState>(["done", "failed"]);

export class CentralExportJobs {
  private readonly jobs = new Map<string, ExportJobRecord>();
  private readonly running = new Set<string>();
  private closed = false;

  constructor(private readonly d: ExportJobDeps) {}

  private get jobDir() {
    return join(this.d.dir, "jobs");
  }

  /** Loads every job; unfinished ones continue (a retrieval is looked up again, a build restarts). */
  async open(): Promise<void> {
    await mkdir(this.jobDir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.jobDir)) {
      if (!name.endsWith(".json")) continue;
      try {
        const j = JSON.parse(await readFile(join(this.jobDir, name), "utf8")) as ExportJobRecord;
        this.jobs.set(j.id, j);
      } catch (e) {
        this.d.log.warn("export job file unreadable; left in place", { file: name, err: e as Error });
      }
    }
    for (const j of this.jobs.values()) if (!FINAL.has(j.state)) this.spawn(j);
  }

  list(user?: string): ExportJobRecord[] {
    return [...this.jobs.values()].filter((j) => user === undefined || j.user === user).sort((a, b) => b.createdMs - a.createdMs);
  }

  get(id: string): ExportJobRecord | undefined {
    return this.jobs.get(id);
  }

  file(id: string): string {
    return join(this.d.dir, `${id}.zip`);
  }

  async create(q: Pick<ExportJobRecord, "user" | "cameraId" | "stream" | "fromMs" | "toMs" | "reason" | "priority">): Promise<ExportJobRecord> {
    const j: ExportJobRecord = { ...q, id: `cx-${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`, state: "building", progress: 0, createdMs: this.d.clock.now() };
    if (j.reason === undefined) delete j.reason;
    await this.save(j);
    this.jobs.set(j.id, j);
    this.spawn(j);
    return j;
  }

  /** Resolves when the job has ended (tests; the routes never wait). */
  async wait(id: string, timeoutMs = 600_000): Promise<ExportJobRecord | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const j = this.jobs.get(id);
      if (!j || (FINAL.has(j.state) && !this.running.has(id)) || Date.now() > end) return j;
      await Bun.sleep(50);
    }
  }

  close(): void {
    this.closed = true;
  }

  private spawn(j: ExportJobRecord): void {
    if (this.running.has(j.id)) return;
    this.running.add(j.id);
    void this.run(j)
      .catch(async (e) => {
        await this.finish(j, { state: "failed", error: (e as Error).message || String(e) }).catch(() => undefined);
      })
      .finally(() => this.running.delete(j.id));
  }

  private async run(j: ExportJobRecord): Promise<void> {
    if (!(await this.d.held(j)) || j.retrievalId) {
      if (!j.retrievalId) {
        if (!j.priority) return this.finish(j, { state: "failed", error: "Central holds none of this window and you may not retrieve it from the edge." });
        const r = await this.d.retrieve(j);
        await this.update(j, { state: "retrieving", retrievalId: r.id, progress: 0, detail: "retrieving from the edge" });
      }
      for (;;) {
        if (this.closed) return;
        const r = await this.d.retrieval(j.retrievalId!);
        if (!r) return this.finish(j, { state: "failed", error: "The retrieval of this window was removed." });
        if (r.state === "failed" || r.state === "cancelled") return this.finish(j, { state: "failed", error: `The footage could not be retrieved from the edge (${r.state}${r.detail ? `: ${r.detail}` : ""}).` });
        if (r.state === "done" || r.state === "partial") break;
        // Retrieval is most of an edge-only export's time: it fills the first 90 %.
        const progress = Math.floor(r.progress * 0.9);
        if (progress !== j.progress || j.state !== "retrieving") await this.update(j, { state: "retrieving", progress, detail: `retrieving from the edge (${r.progress} %)` });
        await Bun.sleep(this.d.pollMs ?? 1000);
      }
    }
    if (this.closed) return;
    await this.update(j, { state: "building", progress: Math.max(j.progress, 90), detail: "building the evidence package" });
    const pkg = await this.d.build(j);
    await writeFileAtomic(this.file(j.id), pkg.zip);
    await this.finish(j, { state: "done", progress: 100, sha256: pkg.sha256, bytes: (await stat(this.file(j.id))).size });
  }

  private async finish(j: ExportJobRecord, patch: Partial<ExportJobRecord>): Promise<void> {
    await this.update(j, { ...patch, doneMs: this.d.clock.now() });
    if (j.state === "failed") await rm(this.file(j.id), { force: true });
    delete j.detail;
    await this.save(j);
    this.d.ended(j);
    this.d.log.info(`export ${j.state}`, { id: j.id, camera: j.cameraId, from: iso(j.fromMs), to: iso(j.toMs), ...(j.error ? { error: j.error } : {}) });
  }

  private async update(j: ExportJobRecord, patch: Partial<ExportJobRecord>): Promise<void> {
    Object.assign(j, patch);
    await this.save(j);
  }

  private save(j: ExportJobRecord): Promise<void> {
    return writeFileAtomic(join(this.jobDir, `${j.id}.json`), JSON.stringify(j));
  }
}
