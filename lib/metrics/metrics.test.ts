import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Logger, MemorySink } from "../log/index.ts";
import { MetricsConfig, Registry, newRegistry, scrapeGroup, startMetricsListener, type Sample } from "./index.ts";

const sink = new MemorySink();
const log = new Logger({ component: "test", sink, level: "debug" });
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("metrics config", () => {
  test("off by default; a listener reachable from other machines needs a token file", () => {
    expect(MetricsConfig.parse({}).port).toBeNull();
    expect(MetricsConfig.safeParse({ port: 9464 }).success).toBe(true);
    const open = MetricsConfig.safeParse({ port: 9464, host: "0.0.0.0" });
    expect(open.success).toBe(false);
    expect(JSON.stringify(open.error?.issues)).toContain("metrics.tokenFile");
    expect(MetricsConfig.safeParse({ port: 9464, host: "0.0.0.0", tokenFile: "/etc/outpost/metrics.token" }).success).toBe(true);
    expect(MetricsConfig.safeParse({ port: 9464, hots: "x" }).success).toBe(false);
  });
});

describe("scrape gauges", () => {
  test("one status read per scrape, and a label set that is gone stops being reported", async () => {
    const r = newRegistry({ edge: "bus-1" });
    let reads = 0;
    let cams = ["cam1", "cam2"];
    scrapeGroup(r, { a: { name: "t_a", help: "a", labels: ["camera"] }, b: { name: "t_b", help: "b" } }, async () => {
      reads++;
      return { a: cams.map((c) => [{ camera: c }, 1] as Sample), b: 7 };
    });
    const first = await r.metrics();
    expect(reads).toBe(1);
    expect(first).toContain('t_a{camera="cam2",edge="bus-1"} 1');
    expect(first).toContain('t_b{edge="bus-1"} 7');
    expect(first).toContain("process_cpu_seconds_total");
    cams = ["cam1"];
    await Bun.sleep(1100);
    const second = await r.metrics();
    expect(reads).toBe(2);
    expect(second).not.toContain('camera="cam2"');
  });

  test("hostile label values are escaped, never break the exposition format", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 40 }), async (v) => {
        const r = new Registry();
        scrapeGroup(r, { a: { name: "t_x", help: "x", labels: ["camera"] } }, async () => ({ a: [[{ camera: v }, 1]] }));
        const lines = (await r.metrics()).split("\n").filter((l) => l.startsWith("t_x{"));
        expect(lines.length).toBe(1);
      }),
      { numRuns: 100 },
    );
  });
});

describe("scrape listener", () => {
  test("GET /metrics only; the bearer token from the file is required when configured", async () => {
    const dir = await mkdtemp(join(tmpdir(), "metrics-"));
    dirs.push(dir);
    await writeFile(join(dir, "token"), "s3cret-token\n");
    const r = newRegistry({ central: "c" });
    scrapeGroup(r, { up: { name: "t_up", help: "up" } }, async () => ({ up: 1 }));
    const l = await startMetricsListener({ config: { port: 0, host: "127.0.0.1", tokenFile: join(dir, "token") }, registry: r, log });
    try {
      expect((await fetch(l.url)).status).toBe(401);
      expect((await fetch(l.url, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const ok = await fetch(l.url, { headers: { authorization: "Bearer s3cret-token" } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-type")).toContain("text/plain");
      expect(await ok.text()).toContain('t_up{central="c"} 1');
      expect((await fetch(l.url.replace("/metrics", "/"), { headers: { authorization: "Bearer s3cret-token" } })).status).toBe(404);
      expect((await fetch(l.url, { method: "POST", headers: { authorization: "Bearer s3cret-token" } })).status).toBe(404);
      // The token never reaches the log.
      expect(JSON.stringify(sink.records)).not.toContain("s3cret-token");
    } finally {
      await l.close();
    }
  });

  test("off loopback without TLS it refuses to start", async () => {
    await expect(startMetricsListener({ config: { port: 0, host: "0.0.0.0", tokenFile: "/nonexistent" }, registry: newRegistry({}), log })).rejects.toThrow(/TLS/);
  });
});
