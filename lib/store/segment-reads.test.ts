/**
 * IndexDb's segment reads (segments, segmentsLite, spans, oldest, allSegments) read columns
 * rather than JSON row objects, and segmentDays makes the digest's day lines or hashes in SQL (the memory
 * of 30-day reads, issue 13). For random rows — several formats with and without a size, hashes
 * present or not, byte counts past 2^32, starts across days, rows of other streams around — each
 * must give exactly what the row-object form gave: the same records, in start order, for any
 * window; the same day lines and hashes as made in JavaScript. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_IMPLS, type TestIndex } from "./index-testkit.ts";
import { segmentId, segmentRelPath } from "./layout.ts";
import type { SegmentRecord, StreamKind } from "./types.ts";

for (const impl of INDEX_IMPLS) describe(impl.name, () => {
  let dir: string;
  let db: TestIndex;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "segment-reads-"));
    db = await impl.open(dir);
  });
  afterAll(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  const FORMATS = [{ mime: 'video/mp4; codecs="avc1.64001f"', width: 1280, height: 720 }, { mime: 'video/mp4; codecs="avc1.42e01e"', width: 640, height: 360 }, { mime: 'audio/mp4; codecs="mp4a.40.2"' }];

  /** The row-object form the reads replaced: every column as JSON, converted per row. */
  async function reference(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, withSha: boolean): Promise<SegmentRecord[]> {
    return referenceOf(`camera_id = $1 AND stream = $2 AND start_ms < $3 AND end_ms > $4 ORDER BY start_ms`, [cameraId, stream, toMs, fromMs], withSha);
  }

  async function referenceOf(w: string, params: (string | number | bigint)[], withSha = true): Promise<SegmentRecord[]> {
    const rows = await db.all(`SELECT s.camera_id, s.stream, s.start_ms, s.end_ms, s.bytes, s.sha256, f.mime, f.width, f.height FROM segments s JOIN formats f ON f.id = s.fmt WHERE ${w}`, params);
    return rows.map((r) => {
      const [cameraId, stream] = [String(r.camera_id), r.stream as StreamKind];
      const startMs = Number(r.start_ms);
      const s: SegmentRecord = { id: segmentId(cameraId, stream, startMs), cameraId, stream, startMs, endMs: Number(r.end_ms), bytes: Number(r.bytes), path: segmentRelPath(cameraId, stream, startMs), mime: String(r.mime) };
      if (r.width !== null) s.width = Number(r.width);
      if (r.height !== null) s.height = Number(r.height);
      if (withSha && r.sha256 !== null) s.sha256 = String(r.sha256);
      return s;
    });
  }

  const row = fc.record({
    stepMs: fc.integer({ min: 1, max: 3 * 86_400_000 }),
    durMs: fc.integer({ min: 1, max: 120_000 }),
    bytes: fc.oneof(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 2 ** 32, max: 2 ** 40 })),
    fmt: fc.integer({ min: 0, max: FORMATS.length - 1 }),
    sha: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
    stream: fc.constantFrom<StreamKind>("main", "main", "sub"),
  });

  let n = 0;
  test("segments, segmentsLite and spans give what the row objects gave (random rows and windows)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 40 }), fc.array(fc.tuple(fc.integer({ min: -86_400_000, max: 60 * 86_400_000 }), fc.integer({ min: 0, max: 60 * 86_400_000 })), { minLength: 1, maxLength: 5 }), async (rows, windows) => {
        const cam = `r${n++}`;
        let t = Date.UTC(2026, 0, 1);
        const recs: SegmentRecord[] = [];
        for (const r of rows) {
          t += r.stepMs;
          const f = FORMATS[r.fmt]!;
          const s: SegmentRecord = { id: "", cameraId: cam, stream: r.stream, startMs: t, endMs: t + r.durMs, bytes: r.bytes, path: "", mime: f.mime, ...("width" in f ? { width: f.width, height: f.height } : {}) };
          if (r.sha) s.sha256 = r.sha;
          recs.push(s);
        }
        // Half through the appender (rebuild), half row by row (commits); a neighbour camera's rows around them.
        const half = recs.length >> 1;
        await db.putSegments(recs.slice(0, half));
        for (const s of recs.slice(half)) await db.putSegment(s);
        await db.putSegments(recs.map((s) => ({ ...s, cameraId: `${cam}x` })));
        for (const [from, len] of [...windows, [-1e13, 2e13]] as const) {
          const fromMs = Date.UTC(2026, 0, 1) + from;
          const toMs = fromMs + len;
          for (const stream of ["main", "sub"] as const) {
            const want = await reference(cam, stream, fromMs, toMs, true);
            expect(await db.segments(cam, stream, fromMs, toMs)).toEqual(want);
            expect(await db.segmentsLite(cam, stream, fromMs, toMs)).toEqual(await reference(cam, stream, fromMs, toMs, false));
            const sp = await db.spans(cam, stream, fromMs, toMs);
            expect({ start: sp.start, end: sp.end, bytes: sp.bytes }).toEqual({ start: want.map((s) => s.startMs), end: want.map((s) => s.endMs), bytes: want.map((s) => s.bytes) });
          }
          // The digest's day lines, made in SQL, against lines made here from the rows.
          for (const lastStart of [fromMs - 1, fromMs + (len >> 1), 8.64e15]) {
            const days = new Map<number, string[]>();
            for (const r of await reference(cam, "main", fromMs, toMs, false)) {
              if (r.startMs < fromMs || r.startMs > lastStart) continue;
              const d = Math.floor(r.startMs / 86_400_000) * 86_400_000;
              days.set(d, [...(days.get(d) ?? []), `s${r.startMs},${r.endMs},${r.bytes}`]);
            }
            const want = [...days.entries()].sort((a, b) => a[0] - b[0]).map(([day, lines]) => ({ day, count: lines.length, lines: lines.sort().join("\n") }));
            expect(await db.segmentDays(cam, "main", fromMs, toMs, lastStart, { lines: true })).toEqual(want);
            const hash = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex").slice(0, 16);
            expect(await db.segmentDays(cam, "main", fromMs, toMs, lastStart)).toEqual(want.map(({ day, count, lines }) => ({ day, count, hash: hash(lines) })));
            if (want.length) expect(await db.segmentDays(cam, "main", fromMs, toMs, lastStart, { lines: true, day: want.at(-1)!.day })).toEqual([want.at(-1)!]);
          }
          // Retention's pages, of one camera and of the whole store.
          const after = fromMs;
          expect(await db.oldest(cam, 7, after)).toEqual(await referenceOf(`camera_id = $1 AND start_ms > $2 ORDER BY start_ms, stream LIMIT $3`, [cam, after, 7n]));
          expect(await db.oldest(null, 9, after)).toEqual(await referenceOf(`start_ms > $1 ORDER BY start_ms, camera_id, stream LIMIT $2`, [after, 9n]));
        }
        expect(await db.allSegments()).toEqual(await referenceOf(`true ORDER BY camera_id, stream, start_ms`, []));
      }),
      { numRuns: 30 },
    );
  }, 120_000); // a few seconds alone; many more on a loaded machine

  test("an unknown stream reads as empty", async () => {
    expect(await db.segments("nobody", "main", 0, 1e13)).toEqual([]);
    expect(await db.spans("nobody", "main", 0, 1e13)).toEqual({ start: [], end: [], bytes: [], fmt: [] });
  });
});
