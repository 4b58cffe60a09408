import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFile, cp, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { INDEX_FILE, MediaStore, StoreInputError, checkStore, type SegmentRecord, type Timeline } from "./index.ts";
import { feed, fragmentAt, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const quiet = () => new Logger({ component: "store", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function newStore(name: string, extra: Partial<Parameters<typeof MediaStore.open>[0]> = {}) {
  const clock = new ManualClock(T0);
  const root = join(dir, name);
  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0, ...extra });
  return { store, clock, root };
}

/** Wall-clock end of fragment n-1 when fed from T0 (media time + T0). */
function endAt(n: number): number {
  const f = fragmentAt(media, n - 1).info;
  return T0 + Math.round(f.startMs + f.durationMs);
}

function shape(t: Timeline) {
  return {
    ranges: t.ranges,
    gaps: t.gaps.map((g) => ({ s: g.startMs, e: g.endMs, r: g.reason })),
    segs: t.segments.map((s) => ({ id: s.id, e: s.endMs, b: s.bytes, h: s.sha256 })),
  };
}

setDefaultTimeout(60_000);

describe("store", () => {
  test("fragments are written inline on the event loop, none through the thread pool (append.ts)", async () => {
    // Instant fsyncs: on a loaded machine a real one waiting past SYNC_STALL_MS would rightly send writes to the pool.
    const { store, clock } = await newStore("inline-writes", { sync: { file: async () => {}, dir: async () => {} } });
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 14);
    await w.settled();
    expect(store.writeStats).toEqual({ inline: 14, pooled: 0 });
    await store.close();
  });

  test("commit order: a row exists only for a closed, fsynced file; open segment is live-only", async () => {
    const { store, clock, root } = await newStore("commit");
    const w = store.writer("cam1", "main");
    const commits: SegmentRecord[] = [];
    const rowsAtCommit: number[] = [];
    w.onCommit = (s) => {
      commits.push(s);
    };
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 14); // 3 fragments per second (keyframe first): 0..4.93 s → cut at 2 s and 4 s
    expect(commits.length).toBe(2);
    for (const c of commits) {
      const bytes = new Uint8Array(await readFile(join(root, c.path)));
      expect(bytes.length).toBe(c.bytes);
      expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex")).toBe(c.sha256!);
      rowsAtCommit.push((await store.segments({ cameraId: "cam1", fromMs: c.startMs, toMs: c.endMs })).filter((s) => !s.open).length);
    }
    expect(rowsAtCommit).toEqual([1, 1]);
    expect(commits[0]!.startMs).toBe(T0);
    expect(commits[0]!.endMs).toBe(T0 + 2000);
    expect(commits[1]!.startMs).toBe(T0 + 2000);
    expect(commits[0]!.path).toBe(`media/cam1/main/2026-01-10/${T0}.mp4`);
    expect(commits[0]!.mime).toMatch(/^video\/mp4; codecs="avc1\./);
    const cur = w.current()!;
    expect(cur.open).toBe(true);
    expect(cur.startMs).toBe(T0 + 4000);
    const t = await store.timeline({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 10_000 });
    expect(t.ranges).toEqual([{ startMs: T0, endMs: endAt(14) }]);
    expect(t.segments.map((s) => !!s.open)).toEqual([false, false, true]);
    expect(t.gaps).toEqual([]);
    // The numbers-only read: the closed segments of segments(), never the open one.
    const closed = (await store.segments({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 10_000 })).filter((s) => !s.open);
    expect(await store.spans({ cameraId: "cam1", fromMs: T0 - 10_000, toMs: T0 + 10_000 })).toEqual({ start: closed.map((s) => s.startMs), end: closed.map((s) => s.endMs), bytes: closed.map((s) => s.bytes) });
    expect((await store.spans({ cameraId: "cam1", fromMs: T0 + 2500, toMs: T0 + 10_000 })).start).toEqual([T0 + 2000]);
    // The digest's day lines from the index: the closed segments only (the open one is no row).
    expect(await store.segmentDays({ cameraId: "cam1", fromMs: 0, toMs: T0 + 10_000 }, T0 + 60_000, { lines: true })).toEqual([{ day: Date.UTC(2026, 0, 10), count: 2, lines: closed.map((s) => `s${s.startMs},${s.endMs},${s.bytes}`).join("\n") }]);
    await w.end("camera-offline", "connection refused");
    clock.advance(5000);
    const t2 = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 20_000 });
    expect(t2.gaps).toEqual([{ cameraId: "cam1", stream: "main", startMs: endAt(14), endMs: clock.now(), reason: "camera-offline", detail: "connection refused" }]);
    // Recording resumes: the gap closes where the new segment starts.
    w.init(media.init, media.info);
    const base = clock.now() - 0; // new session: host clock anchors the first segment
    await feed(w, media, clock, base, 0, 4);
    const t3 = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(t3.gaps.length).toBe(1);
    expect(t3.gaps[0]!.endMs).toBe(t3.segments[t3.segments.length - 1]!.startMs);
    expect(t3.ranges.length).toBe(2);
    // A committed file plays.
    const p = Bun.spawn(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", join(root, commits[0]!.path)], { stderr: "pipe" });
    expect((await new Response(p.stdout).text()).trim()).toBe("30");
    expect(await new Response(p.stderr).text()).toBe("");
    await store.close();
    const cams = await (async () => {
      const s = await MediaStore.open({ root, clock, log: quiet(), minFreeBytes: 0 });
      const c = await s.cameras();
      const tl = await s.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
      expect(s.wasClean).toBe(true);
      expect(tl.gaps.at(-1)!.reason).toBe("stopped");
      await s.close();
      return c;
    })();
    expect(cams).toEqual([{ cameraId: "cam1", stream: "main", firstMs: T0, lastMs: t3.segments.at(-1)!.endMs, bytes: expect.any(Number), segments: 4 }]);
  });

  test("crash: torn tail trimmed, orphan indexed, crash gap recorded; then check passes", async () => {
    const { store, clock, root } = await newStore("crash-src");
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 9); // one committed segment (0-2 s), open one from 2 s with 3 fragments
    const open = w.current()!;
    // The disk as a kill -9 would leave it: copy the tree now, then tear a half fragment onto the open file.
    const crashed = join(dir, "crash");
    await cp(root, crashed, { recursive: true });
    const torn = fragmentAt(media, 9).bytes.subarray(0, 300);
    await appendFile(join(crashed, open.path), torn);
    await store.close();

    // `outpost check` on the power-cut copy: what the next start recovers is not corruption (issue 13 item 7).
    const cut = await checkStore(crashed, { rebuild: false, log: quiet() });
    expect(cut.clean).toBe(false);
    expect(cut.problems).toEqual([]);
    expect(cut.recoverable.map((p) => p.kind).sort()).toEqual(["file-without-row", "torn-tail"]);
    const cli = Bun.spawn(["bun", join(import.meta.dir, "../../cli/outpost.ts"), "check", "--data", crashed], { stdout: "pipe", stderr: "pipe" });
    const [cliOut, cliCode] = [await new Response(cli.stdout).text(), await cli.exited];
    expect(cliCode).toBe(3);
    expect(cliOut).toContain("UNCLEAN SHUTDOWN, recovered on start");
    expect(cliOut).not.toContain("Run `outpost check --data DIR --rebuild`");

    const sink = new MemorySink();
    const s2 = await MediaStore.open({ root: crashed, clock, log: new Logger({ component: "store", sink }), segmentDurationMs: 2000, minFreeBytes: 0 });
    const acts = s2.recovery.actions.map((a) => a.action).sort();
    expect(acts).toEqual(["crash-gap", "indexed-orphan", "trimmed"]);
    expect(s2.wasClean).toBe(false);
    expect(sink.records.filter((r) => String(r.msg).startsWith("recovery:")).length).toBe(3);
    const segs = await s2.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(segs.length).toBe(2);
    expect(segs[1]!.startMs).toBe(open.startMs);
    expect(segs[1]!.endMs).toBe(open.endMs); // nothing fsynced was lost
    expect(segs[1]!.bytes).toBe(open.bytes);
    expect((await stat(join(crashed, open.path))).size).toBe(open.bytes);
    clock.advance(3000);
    const t = await s2.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(t.gaps).toEqual([{ cameraId: "cam1", stream: "main", startMs: open.endMs, endMs: clock.now(), reason: "crash", detail: "recorder did not shut down cleanly" }]);
    // Recording resumes after the crash: new session, gap closed at its start.
    const w2 = s2.writer("cam1", "main");
    w2.init(media.init, media.info);
    await feed(w2, media, clock, clock.now(), 0, 3);
    await s2.close();
    const report = await checkStore(crashed, { rebuild: false, log: quiet() });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.files).toBe(3);
  });

  test("rows without files are dropped; unplayable files removed; strays reported by check", async () => {
    const { store, clock, root } = await newStore("drop");
    const w = store.writer("cam1", "sub");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 18);
    await store.close();
    const segs0 = await (async () => {
      const s = await MediaStore.open({ root, clock, log: quiet(), minFreeBytes: 0 });
      const r = await s.segments({ cameraId: "cam1", stream: "sub", fromMs: T0, toMs: T0 + 60_000 });
      await s.close();
      return r;
    })();
    expect(segs0.length).toBe(3);
    await unlink(join(root, segs0[1]!.path));
    // An unplayable file: init only (what a crash right after creating a file could leave at worst).
    const junk = `media/cam1/sub/2026-01-10/${T0 + 100_000}.mp4`;
    await writeFile(join(root, junk), media.init);
    const before = await checkStore(root, { rebuild: false });
    expect(before.ok).toBe(false);
    expect(before.problems.map((p) => p.kind).sort()).toEqual(["row-without-file", "unplayable"]);
    const s = await MediaStore.open({ root, clock, log: quiet(), minFreeBytes: 0 });
    expect(s.recovery.actions.map((a) => [a.action, a.path])).toEqual([
      ["dropped-row", segs0[1]!.path],
      ["removed-unplayable", junk],
    ]);
    const t = await s.timeline({ cameraId: "cam1", stream: "sub", fromMs: T0, toMs: T0 + 60_000 });
    expect(t.segments.length).toBe(2);
    expect(t.ranges.length).toBe(2);
    await s.close();
    expect((await checkStore(root, { rebuild: false })).ok).toBe(true);
  });

  test("delete the index → check --rebuild gives the same timeline, gaps with reasons, and locks", async () => {
    const { store, clock, root } = await newStore("rebuild");
    for (const cam of ["cam1", "cam2"]) {
      const w = store.writer(cam, "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 10);
      await w.end("stall", "no data for 5 s");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0 + 20_000, 0, 6);
    }
    await store.createLock({ cameraId: "cam1", startMs: T0, endMs: T0 + 3000, reason: "incident 42", createdBy: "op", expiresAtMs: T0 + 86_400_000 });
    await store.createLock({ id: "court-7", cameraId: "cam2", startMs: T0 + 1000, endMs: T0 + 2000, reason: "court", createdBy: "admin" });
    await store.addGap({ cameraId: "cam2", stream: "main", startMs: T0 - 60_000, endMs: T0 - 30_000, reason: "camera-offline" });
    clock.advance(10_000);
    await store.close();
    const q = (cameraId: string) => ({ cameraId, fromMs: T0 - 120_000, toMs: T0 + 120_000 });
    const snap = async () => {
      const s = await MediaStore.open({ root, clock, log: quiet(), minFreeBytes: 0 });
      const r = { a: shape(await s.timeline(q("cam1"))), b: shape(await s.timeline(q("cam2"))), locks: await s.locks(), cams: await s.cameras() };
      await s.close();
      return r;
    };
    const before = await snap();
    expect(before.a.gaps.map((g) => g.r)).toEqual(["stall", "stopped"]);
    expect(before.b.gaps.map((g) => g.r)).toEqual(["camera-offline", "stall", "stopped"]);
    expect(before.locks.length).toBe(2);
    expect((await checkStore(root, { rebuild: false })).ok).toBe(true);

    await rm(join(root, INDEX_FILE));
    await rm(join(root, `${INDEX_FILE}-wal`), { force: true });
    const missing = await checkStore(root, { rebuild: false });
    expect(missing.ok).toBe(false);
    expect(missing.problems[0]!.kind).toBe("index-missing");
    const rebuilt = await checkStore(root, { rebuild: true, log: quiet() });
    expect(rebuilt.ok).toBe(true);
    expect(rebuilt.rebuilt).toBe(true);
    expect(rebuilt.actions!.filter((a) => a.action === "indexed-orphan").length).toBe(rebuilt.files);
    const after = await snap();
    expect(after).toEqual(before);
  });

  test("retention by age and bytes, oldest first, never a locked segment", async () => {
    const { store, clock } = await newStore("retention");
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 58); // 20 s → 10 segments (last one committed by end())
    await w.end("stopped");
    const all = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(all.length).toBe(10);
    const lock = await store.createLock({ cameraId: "cam1", startMs: T0 + 500, endMs: T0 + 1500, reason: "x", createdBy: "t" });
    clock.set(T0 + 20_000);
    const r1 = await store.enforceRetention(() => ({ maxAgeMs: 10_000 }));
    // Segments ending at or before now-10s: 0..4 s... 8-10 s; the first is locked.
    expect(r1.deleted.map((s) => s.startMs - T0)).toEqual([2000, 4000, 6000, 8000]);
    expect(r1.freedBytes).toBe(r1.deleted.reduce((n, s) => n + s.bytes, 0));
    const left = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(left[0]!.startMs).toBe(T0);
    const total = left.reduce((n, s) => n + s.bytes, 0);
    const r2 = await store.enforceRetention(() => ({ maxBytes: total - 1 }));
    expect(r2.deleted.map((s) => s.startMs - T0)).toEqual([10_000]);
    // Releasing the lock releases the segment.
    expect(await store.deleteLock(lock.id)).toBe(true);
    expect(await store.deleteLock(lock.id)).toBe(false);
    const r3 = await store.enforceRetention(() => ({ maxBytes: 0 }));
    expect(r3.deleted.length).toBe(5);
    // An expired lock protects nothing.
    const w2 = store.writer("cam2", "main");
    w2.init(media.init, media.info);
    await feed(w2, media, clock, T0 + 30_000, 0, 8);
    await w2.end("stopped");
    await store.createLock({ cameraId: "cam2", startMs: T0, endMs: T0 + 60_000, reason: "x", createdBy: "t", expiresAtMs: clock.now() - 1 });
    expect((await store.enforceRetention(() => ({ maxBytes: 0 }))).deleted.length).toBe(2);
    const u = await store.usage();
    expect(u.totalBytes).toBe(0);
    expect(u.volumeTotalBytes).toBeGreaterThan(0);
    await store.close();
  });

  test("volumeUsage(): the store's and the volume's bytes without an index query (the disk watcher polls it)", async () => {
    const { store, clock } = await newStore("volume");
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 8);
    await w.end("stopped");
    const db = (store as unknown as { db: { cameras: () => Promise<unknown> } }).db;
    let queries = 0;
    const cameras = db.cameras.bind(db);
    db.cameras = () => (queries++, cameras());
    const v = await store.volumeUsage();
    expect(queries).toBe(0);
    const u = await store.usage();
    expect(queries).toBe(1);
    expect(v.totalBytes).toBe(u.totalBytes);
    expect(v.totalBytes).toBeGreaterThan(0);
    expect(v.volumeTotalBytes).toBe(u.volumeTotalBytes);
    await store.close();
  });

  test("quota reached (simulated ENOSPC): retention makes room and recording continues; all-locked → disk-full gap, then resumes", async () => {
    const { store, clock, root } = await newStore("quota", { maxTotalBytes: 400_000 });
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 150); // 50 s of video: far more than the quota holds
    const u = await store.usage();
    expect(u.totalBytes).toBeLessThanOrEqual(400_000);
    let segs = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 600_000 });
    expect(segs.at(-1)!.endMs).toBe(endAt(150)); // the newest footage is there
    const tl = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 600_000 });
    expect(tl.ranges.length).toBe(1); // continuous: no fragment was dropped
    expect(tl.gaps).toEqual([]);
    // Lock everything that exists: nothing may go, so the writer must stop with a disk-full gap.
    const lock = await store.createLock({ cameraId: "cam1", startMs: T0, endMs: T0 + 600_000, reason: "x", createdBy: "t" });
    const lockedBefore = segs.filter((s) => !s.open).map((s) => s.id);
    await feed(w, media, clock, T0, 150, 200);
    const tl2 = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 600_000 });
    expect(tl2.gaps.map((g) => g.reason)).toEqual(["disk-full"]);
    segs = await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 600_000 });
    for (const id of lockedBefore) expect(segs.some((s) => s.id === id)).toBe(true);
    // Releasing the lock: the next keyframe finds room, the gap closes, recording goes on.
    await store.deleteLock(lock.id);
    await feed(w, media, clock, T0, 200, 230);
    const tl3 = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 600_000 });
    expect(tl3.gaps.length).toBe(1);
    expect(tl3.gaps[0]!.reason).toBe("disk-full");
    expect(tl3.segments.at(-1)!.endMs).toBe(endAt(230));
    expect((await store.usage()).totalBytes).toBeLessThanOrEqual(400_000);
    await store.close();
    const report = await checkStore(root, { rebuild: false });
    expect(report.problems).toEqual([]);
  });

  test("a segment whose row is not written yet: spans() has it, segmentDays() leaves the lines to its caller (null)", async () => {
    const { store, clock } = await newStore("unindexed");
    const db = (store as unknown as { db: { putSegment: (...a: unknown[]) => Promise<void> } }).db;
    const put = db.putSegment.bind(db);
    let writable = false;
    db.putSegment = (...a) => (writable ? put(...a) : Promise.reject(new Error("index not writable")));
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 8); // one segment committed (its row kept in memory), one open
    const q = { cameraId: "cam1", fromMs: 0, toMs: T0 + 10_000 };
    expect((await store.spans(q)).start).toEqual([T0]);
    expect(await store.segmentDays(q, T0 + 60_000)).toBeNull();
    expect(await store.segmentDays(q, T0 - 1)).toEqual([]); // not in the range asked for
    writable = true;
    await store.close();
  });

  test("bad input: unknown camera → empty; inverted window → StoreInputError; bad ids refused", async () => {
    const { store } = await newStore("bad");
    expect(await store.timeline({ cameraId: "nope", fromMs: T0, toMs: T0 + 1000 })).toEqual({ ranges: [], gaps: [], segments: [] });
    expect(await store.timeline({ cameraId: "../etc", fromMs: T0, toMs: T0 + 1000 })).toEqual({ ranges: [], gaps: [], segments: [] });
    await expect(store.timeline({ cameraId: "cam1", fromMs: T0 + 1000, toMs: T0 })).rejects.toThrow(/inverted or empty/);
    await expect(store.timeline({ cameraId: "cam1", fromMs: NaN, toMs: T0 })).rejects.toBeInstanceOf(StoreInputError);
    await expect(store.segments({ cameraId: "cam1", stream: "x" as never, fromMs: 0, toMs: 1 })).rejects.toBeInstanceOf(StoreInputError);
    expect(await store.spans({ cameraId: "nope", fromMs: T0, toMs: T0 + 1000 })).toEqual({ start: [], end: [], bytes: [] });
    expect(await store.segmentDays({ cameraId: "nope", fromMs: T0, toMs: T0 + 1000 }, T0)).toEqual([]);
    await expect(store.spans({ cameraId: "cam1", fromMs: T0 + 1000, toMs: T0 })).rejects.toBeInstanceOf(StoreInputError);
    expect(() => store.writer("../x", "main")).toThrow(StoreInputError);
    expect(() => store.writer("cam1", "third" as never)).toThrow(StoreInputError);
    await expect(store.createLock({ cameraId: "cam1", startMs: 5, endMs: 1, reason: "r", createdBy: "u" })).rejects.toBeInstanceOf(StoreInputError);
    await expect(store.createLock({ id: "../../x", cameraId: "cam1", startMs: 1, endMs: 5, reason: "r", createdBy: "u" })).rejects.toBeInstanceOf(StoreInputError);
    expect(await store.deleteLock("../../etc/passwd")).toBe(false);
    const w = store.writer("cam1", "main");
    await expect(w.fragment(media.frags[0]!.bytes, media.frags[0]!.info, T0)).rejects.toThrow(/before init/);
    // Fragments before the first keyframe of a session are dropped, not written.
    w.init(media.init, media.info);
    const nonKey = media.frags.find((f) => !f.info.keyframe)!;
    await w.fragment(nonKey.bytes, nonKey.info, T0);
    expect(w.current()).toBeUndefined();
    await store.close();
    await expect(checkStore(join(dir, "nonexistent"), { rebuild: false })).rejects.toThrow(/does not exist/);
    await mkdir(join(dir, "empty"));
    await expect(checkStore(join(dir, "empty"), { rebuild: false })).rejects.toThrow(/not an Outpost store/);
  });

  test("outpost check CLI: exit 0 consistent, 1 problems, --rebuild fixes, --json, 2 for not a store", async () => {
    const { store, clock, root } = await newStore("cli");
    const w = store.writer("cam1", "main");
    w.init(media.init, media.info);
    await feed(w, media, clock, T0, 0, 9);
    const lean = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 }, { segments: false });
    const full = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 });
    expect(lean.ranges).toEqual(full.ranges);
    expect(lean.segments).toEqual([]);
    const counted = await store.timeline({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 }, { segments: "count" });
    expect([counted.ranges, counted.gaps, counted.segmentCount]).toEqual([full.ranges, full.gaps, full.segments.length]);
    expect(full.segments.some((s) => s.open)).toBe(true); // the count includes the open segment
    await store.close();
    const cli = async (...args: string[]) => {
      const p = Bun.spawn(["bun", join(import.meta.dir, "../../cli/outpost.ts"), "check", ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, OUTPOST_LOG_FORMAT: "json" } });
      const [out, err, code] = [await new Response(p.stdout).text(), await new Response(p.stderr).text(), await p.exited];
      return { out, err, code };
    };
    const ok = await cli("--data", root);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("OK: disk and index agree");
    await rm(join(root, INDEX_FILE));
    const bad = await cli("--data", root, "--json");
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out).problems[0].kind).toBe("index-missing");
    const fixed = await cli("--data", root, "--rebuild");
    expect(fixed.code).toBe(0);
    expect(fixed.out).toContain("rebuilt the index from disk: 2 indexed-orphan");
    const notStore = await cli("--data", join(dir, "does-not-exist"));
    expect(notStore.code).toBe(2);
    expect(notStore.err).toContain("does not exist");
    expect((await cli()).code).toBe(2);
  });

  test("check refuses a store whose index is held by a running process", async () => {
    const { store, root } = await newStore("held");
    const child = Bun.spawn(["bun", "-e", `import { checkStore } from "${join(import.meta.dir, "index.ts")}"; try { await checkStore(${JSON.stringify(root)}, { rebuild: false }); console.log("no error") } catch (e) { console.log(e.name + ": " + e.message) }`], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(child.stdout).text();
    await child.exited;
    expect(out).toMatch(/StoreLockedError: .*in use by another process \(PID \d+\)/);
    await store.close();
    void readdir;
  });
});

test("endSessions: the open segment commits and observers see it while the index stays open; no writer after it; close() then closes", async () => {
  const { store, clock, root } = await newStore("end-sessions");
  const seen: number[] = [];
  const afterCommit: Promise<unknown>[] = [];
  // Like edge/position's boxes: index work started by a commit, not awaited by the writer.
  store.observeCommits((seg) => {
    seen.push(seg.startMs);
    afterCommit.push(Bun.sleep(50).then(() => store.companionIndex.all(`SELECT count(*) AS n FROM segments WHERE start_ms = $1`, [seg.startMs])));
  });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 9); // one committed segment (0-2 s), open one from 2 s
  const open = w.current()!;
  await store.endSessions();
  expect(seen).toEqual([T0, open.startMs]);
  expect((await Promise.all(afterCommit)).map((rows) => Number((rows as { n: unknown }[])[0]!.n))).toEqual([1, 1]);
  expect(() => store.writer("cam2", "main")).toThrow("store is closed");
  await store.close();
  expect(await readFile(join(root, "CLEAN"), "utf8")).toMatch(/^\d{4}-/);
});
