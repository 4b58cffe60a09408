/**
 * Transfer state shared by two central nodes on one database, on both drivers: a segment is
 * committed once whichever node receives it (the edge resends after a failover); the retrieval
 * worker settles a job on its site's partition owner only, once even while two nodes briefly
 * both believe they own it; a node that claims partitions takes their sites' queued and running
 * retrievals over from the database and re-plans those sites. Ownership is injected (the lease
 * manager itself is tested in central/cluster); jobs, commits and claims are real rows.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { partitionOf, type PartitionChange } from "../cluster/index.ts";
import type { Database } from "../db/index.ts";
import { recordCommit, type CommitRow } from "./commits.ts";
import { RetrievalOwnership, type SiteOwnership } from "./ownership.ts";
import { Retrievals } from "./retrievals.ts";
import { transferTestDrivers } from "./test-db.ts";

const t = transferTestDrivers();
// The first test of a driver starts its PostgreSQL server or PGlite; a loaded machine takes a while.
setDefaultTimeout(120_000);
afterAll(() => t.stop());
const quiet = () => new Logger({ component: "t", sink: new MemorySink(), level: "error" });
const sha = (c: string) => c.repeat(64);
const T0 = Date.parse("2026-12-04T08:00:00Z");

/** A node's partitions, moved by the test (what central/cluster's Leases reports). */
class FakeOwnership implements SiteOwnership {
  readonly held = new Set<number>();
  private fns = new Set<(c: PartitionChange) => void>();
  owns = (siteId: string) => this.held.has(partitionOf(siteId));
  onChange(fn: (c: PartitionChange) => void) {
    this.fns.add(fn);
    return () => void this.fns.delete(fn);
  }
  change(gained: number[], lost: number[]) {
    for (const p of gained) this.held.add(p);
    for (const p of lost) this.held.delete(p);
    for (const fn of this.fns) fn({ gained, lost });
  }
}

async function addJob(db: Database, id: string, siteId: string, state = "queued") {
  await db.run(`INSERT INTO tr_retrievals VALUES ($1, $2, 'cam1', 'main', $3, $4, 'request', 'null', 'ada', $5, $6, NULL, NULL)`, [id, siteId, T0, T0 + 60_000, T0, state]);
}

/** A node's retrieval worker over the shared rows; every window is complete at central (the holdings answer is not what is tested here). */
function worker(db: Database, owns: (siteId: string) => boolean, clips: string[]) {
  const inputs = { progress: async () => ({ total: 100, done: 100, missing: 0, lost: 0 }), mirrorEnd: async () => Number.MAX_SAFE_INTEGER };
  const sites = { online: () => true, control: undefined };
  return new Retrievals({ db, clock: { now: () => T0 + 120_000 }, log: quiet(), sites: sites as never, inputs: inputs as never, meter: { goodputOf: () => null } as never, forgetPlan: () => undefined, wake: () => undefined, owns, attachClip: async (id) => void clips.push(id) });
}

// Sites on different partitions (the hash is pinned in central/cluster).
const SITES = ["bus-1", "bus-2", "ferry-7", "a"];

for (const d of t.drivers) {
  describe.skipIf(d.skip)(`transfer on two nodes: ${d.name}`, () => {
    test("a segment is committed once across nodes: the resend is a duplicate by its key and sha256, other bytes a conflict", async () => {
      const { a, b, close } = await d.open();
      try {
        const row = (startMs: number, h = "a"): CommitRow => ({ siteId: "bus-1", cameraId: "cam1", stream: "main", startMs, bytes: 1000, sha256: sha(h), atMs: T0, cls: "backfill", link: "cellular" });
        expect(await recordCommit(a, row(T0))).toEqual({ kind: "new" });
        // Node a died after committing; the edge resends to node b.
        expect(await recordCommit(b, row(T0))).toEqual({ kind: "duplicate" });
        expect(await recordCommit(b, row(T0, "b"))).toEqual({ kind: "conflict", existing: sha("a") });
        // Both nodes receiving the same 40 segments at once (an upload resumed on the other node): each committed once.
        const starts = Array.from({ length: 40 }, (_, i) => T0 + (i + 1) * 2000);
        const outcomes = await Promise.all([a, b].flatMap((db) => starts.map((s) => recordCommit(db, row(s)))));
        expect(outcomes.filter((o) => o.kind === "new")).toHaveLength(40);
        expect(outcomes.filter((o) => o.kind === "duplicate")).toHaveLength(40);
        const [n] = await a.query<{ n: number }>(`SELECT count(*)::int AS n FROM tr_commits WHERE site_id = $1`, ["bus-1"]);
        expect(n!.n).toBe(41);
      } finally {
        await close();
      }
    });

    test("each node settles the jobs of the sites it owns, and a job settled by two nodes in a handover is finished (and its clip attached) once", async () => {
      const { a, b, close } = await d.open();
      try {
        const [s1, s2] = SITES as [string, string];
        await addJob(a, "j1", s1);
        await addJob(a, "j2", s2);
        const clips: string[] = [];
        const onA = worker(a, (s) => s === s1, clips);
        const onB = worker(b, (s) => s === s2, clips);
        await onA.settleActive(T0 + 120_000);
        expect((await onA.getRetrieval("j1"))!.state).toBe("done");
        expect((await onA.getRetrieval("j2"))!.state).toBe("queued"); // b's site: a leaves it
        await onB.settleActive(T0 + 120_000);
        expect((await onB.getRetrieval("j2"))!.state).toBe("done");
        // A handover: both nodes think they own the site for a moment and settle at once.
        for (let i = 0; i < 10; i++) await addJob(a, `h${i}`, s1);
        const both = [worker(a, () => true, clips), worker(b, () => true, clips)];
        await Promise.all(both.map((w) => w.settleActive(T0 + 120_000)));
        expect(clips.sort()).toEqual(["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "j1", "j2"]);
      } finally {
        await close();
      }
    });

    test("a node claiming partitions loads their sites' queued and running retrievals from the database and re-plans those sites; losing them drops the plans", async () => {
      const { a, b, close } = await d.open();
      try {
        const [s1, s2, s3] = SITES as [string, string, string];
        // Node a created them and then died; b holds nothing yet.
        await addJob(a, "q1", s1, "queued");
        await addJob(a, "r1", s1, "running");
        await addJob(a, "done1", s1, "done");
        await addJob(a, "q2", s2, "queued");
        await addJob(a, "c3", s3, "cancelled");
        const own = new FakeOwnership();
        const replanned: string[] = [];
        const forgotten: string[] = [];
        const node = new RetrievalOwnership({ db: b, ownership: own, log: quiet(), replan: async (s) => void replanned.push(s), forget: (s) => void forgotten.push(s) });
        node.start();
        own.change([partitionOf(s1), partitionOf(s3)], []);
        await node.stop(); // waits for the take-over the change started
        expect(replanned).toEqual([s1]); // s3 has nothing active; s2 is not ours
        node.start();
        expect(await node.adopt([partitionOf(s1), partitionOf(s2)])).toEqual([{ siteId: s1, retrievals: ["q1", "r1"] }]); // s2's partition is not held
        own.change([partitionOf(s2)], [partitionOf(s1)]);
        await node.stop();
        expect(replanned).toEqual([s1, s1, s2]);
        await Bun.sleep(50); // the release is not awaited by stop (it only drops caches)
        expect(forgotten).toEqual([s1]);
      } finally {
        await close();
      }
    });
  });
}
