import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InjectedCrash, isAtomicTmp, setAtomicWriteFault, writeFileAtomic, type AtomicStep } from "./fsutil.ts";
import { writeFileDurable } from "./store/layout.ts";

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "outpost-fsutil-"));
  dirs.push(d);
  return d;
}
afterEach(() => setAtomicWriteFault(null));
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  test("a crash before any step leaves the old or the new content, and the next write works", async () => {
    const steps: AtomicStep[] = ["write", "fsync", "rename", "fsync-dir"];
    for (const step of steps) {
      const d = await dir();
      const f = join(d, "state.json");
      await writeFileAtomic(f, "old".repeat(10_000));
      setAtomicWriteFault((s) => {
        if (s === step) throw new InjectedCrash(s);
      });
      await expect(writeFileAtomic(f, "new".repeat(20_000))).rejects.toBeInstanceOf(InjectedCrash);
      setAtomicWriteFault(null);
      const got = await readFile(f, "utf8");
      // Before the rename the old file is untouched; from the rename on, the new one is whole.
      expect(got).toBe(step === "fsync-dir" ? "new".repeat(20_000) : "old".repeat(10_000));
      // The leftover tmp of a crash is recognisable for sweepers and never the file itself.
      for (const n of await readdir(d)) if (n !== "state.json") expect(isAtomicTmp(n)).toBe(true);
      await writeFileAtomic(f, "next");
      expect(await readFile(f, "utf8")).toBe("next");
    }
  });

  test("many concurrent saves of one file: none fails, the last one wins, no tmp is left", async () => {
    const d = await dir();
    const f = join(d, "state.json");
    const writes = Array.from({ length: 300 }, (_, i) => writeFileAtomic(f, JSON.stringify({ i, pad: "x".repeat(i * 50) })));
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(JSON.parse(await readFile(f, "utf8")).i).toBe(299);
    expect(await readdir(d)).toEqual(["state.json"]);
  });

  test("concurrent saves through the store's writeFileDurable (fixed tmp name before) do not collide", async () => {
    const d = await dir();
    const f = join(d, "locks", "l1.json");
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => writeFileDurable(f, `{"i":${i}}`)));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(JSON.parse(await readFile(f, "utf8")).i).toBeNumber();
  });

  test("files are private (0600) unless a mode is given, also when a wider file was there", async () => {
    const d = await dir();
    const f = join(d, "a.json");
    await writeFile(f, "x", { mode: 0o644 });
    await writeFileAtomic(f, "y");
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    await writeFileAtomic(f, "z", 0o640);
    expect((await stat(f)).mode & 0o777).toBe(0o640);
  });

  test("kill -9 of a process in the middle of saves: the file is always one whole version", async () => {
    const d = await dir();
    const f = join(d, "state.json");
    // Each version is self-checking: a generation, a body whose length depends on it, a checksum.
    const child = `
      const { writeFileAtomic } = await import(${JSON.stringify(join(import.meta.dir, "fsutil.ts"))});
      const f = process.env.ATOMIC_FILE;
      process.stdout.write("ready\\n");
      for (let gen = 0; ; gen++) {
        const body = String(gen % 10).repeat(50_000 + (gen % 7) * 30_000);
        await writeFileAtomic(f, JSON.stringify({ gen, body, sum: Bun.hash.crc32(body) }));
      }`;
    const versionsSeen = new Set<number>();
    for (let round = 0; round < 12; round++) {
      const p = Bun.spawn(["bun", "-e", child], { stdout: "pipe", stderr: "inherit", env: { ...process.env, ATOMIC_FILE: f } });
      const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
      await reader.read(); // "ready": the loop is about to start
      await Bun.sleep(20 + Math.floor(Math.random() * 150));
      p.kill("SIGKILL");
      await p.exited;
      const text = await readFile(f, "utf8").catch(() => null);
      if (text === null) continue; // killed before the very first rename: no file, never a torn one
      const v = JSON.parse(text) as { gen: number; body: string; sum: number };
      expect(Bun.hash.crc32(v.body)).toBe(v.sum);
      expect(v.body.length).toBe(50_000 + (v.gen % 7) * 30_000);
      versionsSeen.add(v.gen);
    }
    // The kills landed at different points of the loop (not all before the first save).
    expect(versionsSeen.size).toBeGreaterThan(1);
  }, 120_000);
});
