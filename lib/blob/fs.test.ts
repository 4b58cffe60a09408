import { afterAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { blobStoreConformance } from "./conformance.ts";
import { FsBlobStore } from "./fs.ts";

const dirs: string[] = [];
const tempDir = async () => {
  const d = await fs.mkdtemp(path.join(tmpdir(), "outpost-blobtest-"));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

blobStoreConformance("file system", {
  open: async () => ({ store: new FsBlobStore(await tempDir()), dispose: async () => undefined }),
  openSecond: async (first) => new FsBlobStore((first as FsBlobStore).root),
});

describe("FsBlobStore specifics", () => {
  test("put: the file is fsynced before the rename and the directory after it (a crash leaves no blob or the whole one)", async () => {
    const root = await tempDir();
    const steps: string[] = [];
    const store = new FsBlobStore(root, {
      syncFile: async (fh) => {
        // Still under the temp name: the key is not visible yet.
        steps.push(`file:${(await fs.readdir(path.join(root, "s"))).some((n) => n === "k.bin") ? "visible" : "hidden"}`);
        await fh.sync();
      },
      syncDir: async (dir) => {
        steps.push(`dir:${path.relative(root, dir) || "."}`);
      },
    });
    await store.put("s/k.bin", new Uint8Array([1, 2, 3]));
    // The new directory's entry in the root, then the file fsync under its temp name, then the directory holding the rename.
    expect(steps).toEqual(["dir:.", "file:hidden", "dir:s"]);
  });

  test("a crash inside put leaves only a temp file: never listed, never read, swept after the grace period", async () => {
    const root = await tempDir();
    const store = new FsBlobStore(root, {
      syncFile: async () => {
        throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      },
    });
    await expect(store.put("t/x.bin", new Uint8Array(10))).rejects.toThrow("EIO");
    // A real crash cannot clean up: leave a temp file as a killed process would.
    await fs.writeFile(path.join(root, "t", "y.bin.tmp-0b1c"), "partial");
    const ok = new FsBlobStore(root);
    const listed: string[] = [];
    for await (const b of ok.list("")) listed.push(b.key);
    expect(listed).toEqual([]);
    expect(await ok.get("t/x.bin")).toBeNull();
    const olderThan = (ms: number, nowMs = Date.now()) => (t: { modifiedMs: number }) => t.modifiedMs < nowMs - ms;
    expect(await ok.sweepTemp("t/", olderThan(60_000))).toBe(0); // young: maybe a put in flight on another node
    expect(await ok.sweepTemp("t/", olderThan(60_000, Date.now() + 120_000))).toBe(1);
    expect(await fs.readdir(path.join(root, "t"))).toEqual([]);
  });

  test("a put's temp file names the store's writer, so a sweeper can judge whose leftover it is", async () => {
    const root = await tempDir();
    let tmpName = "";
    const store = new FsBlobStore(root, {
      writer: "node-a.1",
      syncFile: async () => {
        tmpName = (await fs.readdir(path.join(root, "t"))).join();
        throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      },
    });
    await expect(store.put("t/x.bin", new Uint8Array(10))).rejects.toThrow("EIO");
    expect(tmpName).toMatch(/^x\.bin\.tmp-node-a\.1~[0-9a-f-]{36}$/);
    // Leftovers as killed processes leave them: one naming its writer, one of a store that names none.
    await fs.writeFile(path.join(root, "t", tmpName), "partial");
    await fs.writeFile(path.join(root, "t", "y.bin.tmp-0b1c"), "partial");
    const seen: (string | null)[] = [];
    expect(await store.sweepTemp("t/", (t) => {
      seen.push(t.writer);
      return t.writer === "node-a.1";
    })).toBe(1);
    expect(seen.sort()).toEqual(["node-a.1", null]);
    expect(await fs.readdir(path.join(root, "t"))).toEqual(["y.bin.tmp-0b1c"]);
    const listed: string[] = [];
    for await (const b of store.list("")) listed.push(b.key);
    expect(listed).toEqual([]);
    expect(() => new FsBlobStore(root, { writer: "a/b" })).toThrow(/invalid blob writer/);
  });
});
