/**
 * The conformance suite of lib/blob: what every BlobStore implementation must do, as bun:test
 * cases. Each implementation's test file calls blobStoreConformance() with a factory (fs.test.ts
 * today; an S3-compatible store runs the same suite against a real server).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BlobKeyError, type BlobInfo, type BlobStore } from "./index.ts";

export interface ConformanceTarget {
  /** A fresh, empty store (and how to throw it away). */
  open(): Promise<{ store: BlobStore; dispose(): Promise<void> }>;
  /** A second handle on the same blobs (another node): what one writes the other reads. */
  openSecond?(first: BlobStore): Promise<BlobStore>;
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

async function collect(it: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const b of it) out.push(b);
  return out;
}

export function blobStoreConformance(name: string, target: ConformanceTarget): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ store, dispose } = await target.open());
    });
    afterAll(async () => {
      await dispose?.();
    });

    test("put then get returns the same bytes; stat reports the size; a missing key is null", async () => {
      const data = bytes(70_000);
      const info = await store.put("a/b/one.mp4", data);
      expect(info).toMatchObject({ key: "a/b/one.mp4", bytes: 70_000 });
      expect(await store.get("a/b/one.mp4")).toEqual(data);
      expect(await store.stat("a/b/one.mp4")).toMatchObject({ key: "a/b/one.mp4", bytes: 70_000 });
      expect((await store.stat("a/b/one.mp4"))!.modifiedMs).toBeGreaterThan(0);
      expect(await store.get("a/b/missing.mp4")).toBeNull();
      expect(await store.stat("a/b/missing.mp4")).toBeNull();
    });

    test("byte ranges: [start, end) clipped to the size; open end reads to the end", async () => {
      const data = bytes(1000, 7);
      await store.put("r/x.bin", data);
      expect(await store.get("r/x.bin", { start: 10, end: 20 })).toEqual(data.subarray(10, 20));
      expect(await store.get("r/x.bin", { start: 990 })).toEqual(data.subarray(990));
      expect(await store.get("r/x.bin", { start: 995, end: 5000 })).toEqual(data.subarray(995));
      expect((await store.get("r/x.bin", { start: 2000 }))!.length).toBe(0);
      expect((await store.get("r/x.bin", { start: 5, end: 5 }))!.length).toBe(0);
      await expect(store.get("r/x.bin", { start: 20, end: 10 })).rejects.toThrow(RangeError);
      await expect(store.get("r/x.bin", { start: -1 })).rejects.toThrow(RangeError);
    });

    test("put replaces a blob of the same key whole; delete removes it once", async () => {
      await store.put("d/k.bin", bytes(500, 1));
      await store.put("d/k.bin", bytes(300, 2));
      expect(await store.get("d/k.bin")).toEqual(bytes(300, 2));
      expect(await store.delete("d/k.bin")).toBe(true);
      expect(await store.delete("d/k.bin")).toBe(false);
      expect(await store.get("d/k.bin")).toBeNull();
    });

    test("list: every blob under a string prefix, in key order, with sizes; nothing else", async () => {
      await store.put("l/site-1.cam/main/1.mp4", bytes(10));
      await store.put("l/site-1.cam/sub/2.mp4", bytes(20));
      await store.put("l/site-10.cam/main/3.mp4", bytes(30));
      await store.put("l/site-2.cam/main/4.mp4", bytes(40));
      const keys = async (p: string) => (await collect(store.list(p))).map((b) => `${b.key}:${b.bytes}`);
      expect(await keys("l/site-1.")).toEqual(["l/site-1.cam/main/1.mp4:10", "l/site-1.cam/sub/2.mp4:20"]);
      expect(await keys("l/site-1")).toEqual(["l/site-1.cam/main/1.mp4:10", "l/site-1.cam/sub/2.mp4:20", "l/site-10.cam/main/3.mp4:30"]);
      expect(await keys("l/")).toHaveLength(4);
      expect(await keys("l/nothing")).toEqual([]);
      expect((await collect(store.list())).map((b) => b.key)).toContain("l/site-2.cam/main/4.mp4");
    });

    test("bad keys are refused with a clear error and touch nothing", async () => {
      const before = (await collect(store.list())).length;
      for (const k of ["", "/abs", "a/../b", "a//b", "./a", "a/b/", "a b", "x\u0000y", "a/.tmp-1"]) {
        await expect(store.put(k, bytes(1))).rejects.toThrow(BlobKeyError);
        await expect(store.get(k)).rejects.toThrow(BlobKeyError);
        await expect(store.delete(k)).rejects.toThrow(BlobKeyError);
      }
      expect((await collect(store.list())).length).toBe(before);
    });

    test("concurrent puts of different keys all land whole", async () => {
      const n = 24;
      await Promise.all(Array.from({ length: n }, (_, i) => store.put(`c/${i}.bin`, bytes(4096 + i, i))));
      const listed = await collect(store.list("c/"));
      expect(listed).toHaveLength(n);
      for (let i = 0; i < n; i++) expect(await store.get(`c/${i}.bin`)).toEqual(bytes(4096 + i, i));
    });

    test.skipIf(!target.openSecond)("a second handle (another node) reads and deletes what the first wrote", async () => {
      const other = await target.openSecond!(store);
      await store.put("n/shared.bin", bytes(2048, 9));
      expect(await other.get("n/shared.bin", { start: 100, end: 200 })).toEqual(bytes(2048, 9).subarray(100, 200));
      expect((await collect(other.list("n/"))).map((b) => b.key)).toEqual(["n/shared.bin"]);
      expect(await other.delete("n/shared.bin")).toBe(true);
      expect(await store.stat("n/shared.bin")).toBeNull();
    });
  });
}
