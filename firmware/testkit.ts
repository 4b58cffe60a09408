/**
 * Test support for firmware tests and the benchmark: keys and roots, small signed releases,
 * an in-memory UpdateSource (with attack switches), and a tiny "firmware" whose `run` entry is
 * a Bun script that runs the real UpdateAgent and reports health as its behaviour file says.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { writeBundle } from "./bundle.ts";
import { chunkBundle, type ChunkIndex } from "./chunk.ts";
import { createRoot, generateKey, type PrivateKeyFile, type RootMeta, type TargetsMeta } from "./meta.ts";
import { signRelease } from "./release.ts";
import type { Offer, StatusReport, UpdateSource } from "./agent/source.ts";

export interface TestKeys {
  root: PrivateKeyFile;
  targets: PrivateKeyFile;
  rootMeta: RootMeta;
}

export const inDays = (d: number, now = Date.now()) => new Date(now + d * 86_400_000).toISOString();

export async function testKeys(): Promise<TestKeys> {
  const root = await generateKey();
  const targets = await generateKey();
  return { root, targets, rootMeta: await createRoot({ rootKeys: [root], targetsKeys: [targets], expires: inDays(365) }) };
}

export const FAKE_FIRMWARE = path.join(import.meta.dir, "testdata", "fake-firmware.ts");

/** A test release: `run` starts the fake firmware (a Bun script) with `behavior.json` beside it. */
export async function testRelease(
  dir: string,
  o: { version: string; metaVersion: number; keys: PrivateKeyFile[]; expires?: string; minFrom?: string; behavior?: { healthy: boolean }; payloadBytes?: number; payloadSeed?: number; payload?: Uint8Array; extra?: Record<string, Uint8Array>; compress?: { level: number } },
): Promise<{ bundleFile: string; targets: TargetsMeta }> {
  const run = `#!/bin/sh\nd=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)\nexec "${process.execPath}" "${FAKE_FIRMWARE}" "$d" "$@"\n`;
  const payload = o.payload ?? pseudoRandom(o.payloadBytes ?? 64 * 1024, o.payloadSeed ?? 1);
  const bundleFile = path.join(dir, `outpost-${o.version}.bundle`);
  await writeBundle(
    {
      version: o.version,
      builtAt: "2026-01-01T00:00:00.000Z",
      minFromVersion: o.minFrom ?? "0.0.0",
      ...(o.compress ? { compress: o.compress } : {}),
      files: [
        { name: "run", source: new TextEncoder().encode(run), executable: true },
        { name: "behavior.json", source: new TextEncoder().encode(JSON.stringify(o.behavior ?? { healthy: true })) },
        { name: "payload.bin", source: payload },
        ...Object.entries(o.extra ?? {}).map(([name, source]) => ({ name, source })),
      ],
    },
    bundleFile,
  );
  return { bundleFile, targets: await signRelease(bundleFile, { keys: o.keys, version: o.metaVersion, expires: o.expires ?? inDays(30) }) };
}

/** Deterministic bytes; `mutate` changes a few spots (a "consecutive build"). */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Rel {
  bundleFile: string;
  targets: unknown;
  chunks: ChunkIndex | null;
}

/** In-memory update server with switches for attacks. */
export class MemorySource implements UpdateSource {
  releases = new Map<string, Rel>();
  roots: unknown[] = [];
  current: Offer | null = null;
  reports: StatusReport[] = [];
  up = true;
  /** Attack switches. */
  endless = false;
  served = 0;

  async add(version: string, bundleFile: string, targets: unknown, withChunks = true): Promise<void> {
    const t = targets as TargetsMeta;
    this.releases.set(version, { bundleFile, targets, chunks: withChunks ? await chunkBundle(bundleFile, t.signed.bundle.sha256) : null });
  }
  private rel(v: string): Rel {
    if (!this.up) throw new Error("central unreachable");
    const r = this.releases.get(v);
    if (!r) throw new Error(`no release ${v}`);
    return r;
  }
  async offer() {
    if (!this.up) throw new Error("central unreachable");
    return this.current;
  }
  async root(n: number) {
    return this.roots[n - 1] ?? null;
  }
  async targets(v: string) {
    return structuredClone(this.rel(v).targets);
  }
  async chunks(v: string) {
    return this.rel(v).chunks;
  }
  async range(v: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    const f = Bun.file(this.rel(v).bundleFile);
    if (this.endless) {
      // The attacker's mirror: the right bytes never come, and the garbage never ends.
      let sent = 0;
      return new ReadableStream({
        pull: (c) => {
          sent += 65536;
          this.served += 65536;
          if (sent > 1e10) c.close();
          else c.enqueue(new Uint8Array(65536).fill(0x41));
        },
      });
    }
    this.served += end - start;
    return f.slice(start, end).stream() as ReadableStream<Uint8Array>;
  }
  async report(r: StatusReport) {
    if (!this.up) throw new Error("central unreachable");
    this.reports.push(r);
  }
  async reachable() {
    return this.up;
  }
}

export async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * A simulated edge for campaign tests and the benchmark: a real data dir with slots, the real
 * launcher decision (chooseSlot) and the real UpdateAgent; "restart" re-runs the launcher
 * in-process instead of exec'ing a new binary. Health = the slot's behavior.json.
 */
export class SimEdge {
  agent: import("./agent/index.ts").UpdateAgent | null = null;
  boots = 0;
  private stopped = false;
  constructor(
    readonly dataDir: string,
    private readonly source: UpdateSource,
    private readonly o: { pollMs?: number; healthTimeoutMs?: number; log?: import("../lib/log/index.ts").Logger } = {},
  ) {}

  async boot(): Promise<void> {
    if (this.stopped) return;
    const { chooseSlot } = await import("./boot.ts");
    const { UpdateAgent } = await import("./agent/index.ts");
    const choice = await chooseSlot(this.dataDir, { log: this.o.log });
    this.boots++;
    const behavior = JSON.parse(await fs.readFile(path.join(choice.dir, "behavior.json"), "utf8")) as { healthy: boolean };
    this.agent = new UpdateAgent({
      dataDir: this.dataDir,
      source: this.source,
      slot: choice.slot,
      trial: choice.trial,
      version: choice.version,
      health: async () => (behavior.healthy ? { ok: true } : { ok: false, reason: "simulated camera not recording" }),
      healthTimeoutMs: this.o.healthTimeoutMs ?? 300,
      healthIntervalMs: 50,
      pollMs: this.o.pollMs ?? 200,
      log: this.o.log,
      restart: () => {
        this.agent = null;
        setTimeout(() => void this.boot(), 10);
      },
    });
    this.agent.start();
  }

  stop(): void {
    this.stopped = true;
    this.agent?.stop();
  }
}
