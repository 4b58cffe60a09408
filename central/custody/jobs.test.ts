import { afterAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { CentralExportJobs, type ExportJobDeps, type ExportJobRecord } from "./jobs.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const log = new Logger({ component: "test", sink: new MemorySink(), level: "debug" });

async function rig(over: Partial<ExportJobDeps> & { retrievalState?: { state: string; progress: number } }) {
  const dir = await mkdtemp(join(tmpdir(), "cx-jobs-"));
  dirs.push(dir);
  const ended: ExportJobRecord[] = [];
  const state = { r: over.retrievalState ?? { state: "running", progress: 40 }, retrieves: 0, builds: 0 };
  const deps = (): ExportJobDeps => ({
    dir,
    clock: { now: () => Date.now() },
    log,
    pollMs: 10,
    held: async () => false,
    retrieve: async () => {
      state.retrieves++;
      return { id: "ex-1" };
    },
    retrieval: async () => ({ ...state.r, detail: null }),
    build: async () => {
      state.builds++;
      return { zip: new TextEncoder().encode("PK-package"), sha256: "ab".repeat(32) };
    },
    ended: (j) => ended.push({ ...j }),
    ...over,
  });
  return { dir, deps, state, ended };
}

const q = { user: "ana", cameraId: "s1.cam1", stream: "main" as const, fromMs: 1_000, toMs: 9_000, priority: "request" as const };

test("an edge-only window is retrieved first (progress from the retrieval), then built; a restart in between resumes, never restarts the retrieval", async () => {
  const r = await rig({});
  const a = new CentralExportJobs(r.deps());
  await a.open();
  const job = await a.create(q);
  await Bun.sleep(100);
  expect(a.get(job.id)!.state).toBe("retrieving");
  expect(a.get(job.id)!.progress).toBe(36);
  a.close(); // crash: the job file stays
  await Bun.sleep(50);
  r.state.r = { state: "done", progress: 100 };
  const b = new CentralExportJobs(r.deps());
  await b.open();
  const done = await b.wait(job.id, 10_000);
  expect(done!.state).toBe("done");
  expect(done!.sha256).toBe("ab".repeat(32));
  expect(r.state.retrieves).toBe(1);
  expect(await readFile(b.file(job.id), "utf8")).toBe("PK-package");
  expect(r.ended.map((j) => j.state)).toEqual(["done"]);
  expect(JSON.parse(await readFile(join(r.dir, "jobs", `${job.id}.json`), "utf8")).state).toBe("done");
});

test("a failed retrieval, a build error, and no right to retrieve each end the job as failed with a sentence", async () => {
  const r1 = await rig({ retrievalState: { state: "failed", progress: 10 } });
  const j1 = new CentralExportJobs(r1.deps());
  await j1.open();
  expect((await j1.wait((await j1.create(q)).id, 10_000))!.error).toContain("could not be retrieved");
  const r2 = await rig({ held: async () => true, build: async () => Promise.reject(new Error("Central holds no recording of s1.cam1 in that window.")) });
  const j2 = new CentralExportJobs(r2.deps());
  await j2.open();
  const f2 = await j2.wait((await j2.create(q)).id, 10_000);
  expect(f2!.state).toBe("failed");
  expect(f2!.error).toContain("holds no recording");
  const r3 = await rig({});
  const j3 = new CentralExportJobs(r3.deps());
  await j3.open();
  const f3 = await j3.wait((await j3.create({ ...q, priority: null })).id, 10_000);
  expect(f3!.error).toContain("may not retrieve");
  expect(r3.state.retrieves).toBe(0);
});

test("jobs are listed per user, newest first", async () => {
  const r = await rig({ held: async () => true });
  const j = new CentralExportJobs(r.deps());
  await j.open();
  const a = await j.create(q);
  await Bun.sleep(5);
  const b = await j.create(q);
  await j.create({ ...q, user: "ben" });
  expect(j.list("ana").map((x) => x.id)).toEqual([b.id, a.id]);
  expect(j.list("ben").length).toBe(1);
});
