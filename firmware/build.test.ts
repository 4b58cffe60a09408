/**
 * The real appliance build (bun build --compile, ~180 MB bundle): done twice per run and the
 * artifacts reused by every test here. Same inputs → same bundle hash; the installed slot's
 * executable runs (DuckDB via the shipped libduckdb.so) and serves the web client embedded at
 * build time from a folder without sources; a consecutive build with a small code
 * change costs ≤ 20 % as a delta.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildAppliance, type BuildResult } from "./build.ts";
import { provision } from "./agent/index.ts";
import { chunkBundle, chunkFiles, localKey } from "./chunk.ts";
import { signRelease } from "./release.ts";
import { firmwarePaths } from "./slots.ts";
import { testKeys, type TestKeys } from "./testkit.ts";
import { runBoot } from "./boot.ts";
import { readState } from "./slots.ts";
import { startCentral } from "../central/index.ts";
import { enroll } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startCamsim } from "../camsim/index.ts";

const repo = path.resolve(import.meta.dir, "..");
let tmp: string;
let b1: BuildResult;
let b2: BuildResult;
let next: BuildResult | null = null;
let keys: TestKeys;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-build-"));
  b1 = await buildAppliance({ root: repo, outDir: path.join(tmp, "one"), sourceDateEpoch: 1_767_225_600 });
  b2 = await buildAppliance({ root: repo, outDir: path.join(tmp, "two"), sourceDateEpoch: 1_767_225_600 });
}, 300_000);

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("appliance build", () => {
  test("same inputs → same bundle hash; build time from SOURCE_DATE_EPOCH", () => {
    expect(b1.sha256).toBe(b2.sha256);
    expect(b1.length).toBe(b2.length);
    expect(b1.manifest.builtAt).toBe("2026-01-01T00:00:00.000Z");
    expect(b1.manifest.files.map((f) => f.name)).toEqual(["edge.default.yaml", "libduckdb.so", "outpost", "outpost.service", "run"]);
  });

  test("installed slot runs: the executable starts, records an ONVIF camera and makes its previews, serves the embedded web client with no sources present, and stops cleanly", async () => {
    keys = await testKeys();
    const targets = await signRelease(b1.bundleFile, { keys: [keys.targets], version: 1, expires: new Date(Date.now() + 86_400_000).toISOString() });
    const data = path.join(tmp, "data");
    await provision({ dataDir: data, root: keys.rootMeta, bundleFile: b1.bundleFile, targets, now: Date.now() });
    const run = path.join(firmwarePaths(data).slot("a"), "run");
    const help = Bun.spawnSync([run, "firmware", "--help"], { stdout: "pipe", stderr: "pipe" });
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString()).toContain("outpost firmware build");
    // One ONVIF camera (the `onvif` package is loaded on demand) with short segments: a preview
    // needs the keyframe decoder's script, which must travel inside the executable.
    const cam = await startCamsim({ cameras: 1, discoveryPort: null });
    const camera = { id: "c1", onvif: { address: cam.cameras[0]!.onvifUrl }, user: cam.user, password: cam.password, streams: ["main"] };
    const cfg = path.join(tmp, "edge-camera.yaml");
    await fs.writeFile(cfg, `dataDir: ${data}\nname: t\napi:\n  port: 0\n  plainHttp: true\nstorage:\n  segmentDurationMs: 2000\n  minFreeBytes: 0\ncameras: [${JSON.stringify(camera)}]\n`);
    // The launcher test below runs the edge with edge.yaml: no camera (its camera would be gone by then).
    await fs.writeFile(path.join(tmp, "edge.yaml"), `dataDir: ${data}\nname: t\napi:\n  port: 0\n  plainHttp: true\ncameras: []\n`);
    const log = path.join(tmp, "edge.log");
    // Started from an empty folder: nothing of the repository is reachable (the web client
    // used to be built from sources at run time, so the compiled edge answered 503).
    const bare = await fs.mkdtemp(path.join(tmp, "bare-"));
    const edge = Bun.spawn(["sh", "-c", `exec "${run}" edge --config "${cfg}" >"${log}" 2>&1`], { cwd: bare });
    const started = async () => (await fs.readFile(log, "utf8").catch(() => "")).includes("edge recorder started");
    // A 112 MB executable unpacks itself on first start: slow on a loaded machine.
    for (let i = 0; i < 600 && !(await started()); i++) await Bun.sleep(100);
    if (!(await started())) throw new Error(`the installed edge did not start; its log:\n${await fs.readFile(log, "utf8").catch(() => "(none)")}`);
    const url = /"msg":"edge API listening","url":"([^"]+)"/.exec(await fs.readFile(log, "utf8"))?.[1];
    expect(url).toStartWith("http://127.0.0.1:");
    const page = await fetch(`${url}/`);
    const html = await page.text();
    expect({ status: page.status, type: page.headers.get("content-type") }).toEqual({ status: 200, type: "text/html; charset=utf-8" });
    const script = /<script type="module" src="(\/assets\/[^"]+\.js)">/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${url}${script}`, { headers: { "accept-encoding": "gzip" } });
    expect({ status: js.status, type: js.headers.get("content-type") }).toEqual({ status: 200, type: "text/javascript; charset=utf-8" });
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const css = /<link rel="stylesheet" href="(\/assets\/[^"]+\.css)">/.exec(html)?.[1];
    if (css) expect((await fetch(`${url}${css}`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
    const previews = async () => (await fs.readdir(path.join(data, "media", "c1", "main"), { recursive: true }).catch(() => [] as string[])).filter((f) => String(f).endsWith(".preview"));
    for (let i = 0; i < 300 && (await previews()).length === 0; i++) await Bun.sleep(100);
    const text = await fs.readFile(log, "utf8");
    expect({ previews: (await previews()).length > 0, notMade: /preview not made/.test(text) ? text.split("\n").find((l) => /preview not made/.test(l)) : null }).toEqual({ previews: true, notMade: null });
    edge.kill("SIGINT");
    expect(await edge.exited).toBe(0);
    await cam.close();
    expect(await Bun.file(path.join(data, "index.sqlite")).exists()).toBe(true);
  }, 90_000);

  test("delta between two consecutive builds is ≤ 20 % of the full bundle", async () => {
    // The next build: the same sources plus a small code change.
    const entry = path.join(tmp, "entry-next.ts");
    await fs.writeFile(entry, `import "${path.join(repo, "firmware", "entry.ts")}";\nexport const releaseNote = ${JSON.stringify("x".repeat(2000))};\nconsole.debug(releaseNote.length);\n`);
    next = await buildAppliance({ root: repo, outDir: path.join(tmp, "next"), version: "0.1.1", entry, sourceDateEpoch: 1_767_312_000 });
    expect(next.sha256).not.toBe(b1.sha256);
    const ix = await chunkBundle(next.bundleFile, next.sha256);
    const slot = path.join(tmp, "data", "firmware", "slots", "a");
    const local = await chunkFiles(b1.manifest.files.map((f) => path.join(slot, f.name)));
    const missing = ix.chunks.filter((c) => !local.has(localKey(c))).reduce((n, [, len]) => n + len, 0);
    const indexBytes = JSON.stringify(ix).length;
    const ratio = (missing + indexBytes) / next.length;
    console.log(`delta: ${missing} bytes of chunks + ${indexBytes} bytes of index = ${(ratio * 100).toFixed(2)} % of ${next.length}`);
    expect(ratio).toBeLessThanOrEqual(0.2);
  }, 180_000); // a full build (compile + compression) on a loaded machine

  test("real binaries end to end: launcher runs slot a, agent takes the campaign over mTLS, delta, trial, commit", async () => {
    expect(next).not.toBeNull();
    const log = new Logger({ component: "test", sink: new MemorySink(), level: "warn" });
    const central = await startCentral({ dataDir: path.join(tmp, "central"), api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } }, { log });
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let run: Promise<number> | null = null;
    try {
      const data = path.join(tmp, "data");
      const t = await central.createEnrollmentToken("Bus real");
      await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: data });
      await central.firmware.addRoot(keys.rootMeta);
      const t2 = await signRelease(next!.bundleFile, { keys: [keys.targets], version: 2, expires: new Date(Date.now() + 86_400_000).toISOString() });
      await central.firmware.addRelease(next!.bundleFile, t2);
      const cfg = path.join(tmp, "edge.yaml");
      run = runBoot({ dataDir: data, args: ["firmware", "run", "--config", cfg, "--poll", "0.5", "--health-timeout", "20"], stop: stopped, log, trialTimeoutMs: 60_000 });
      const camp = await central.firmware.createCampaign({ version: "0.1.1", stages: [100] }, "test");
      let c = central.firmware.campaign(camp.id)!;
      // Generous (loaded machine): the delta recompresses every chunk the slot already has.
      for (let i = 0; i < 3000 && c.state === "running"; i++) {
        await Bun.sleep(100);
        c = central.firmware.campaign(camp.id)!;
      }
      const site = Object.values(c.status)[0]!;
      expect(c.state).toBe("completed");
      expect(site.state).toBe("healthy");
      expect(site.running).toBe("0.1.1");
      expect(site.bytesFetched!).toBeLessThan(next!.length * 0.2);
      expect(await readState(firmwarePaths(data))).toMatchObject({ current: "b", pending: null });
      console.log(`real update: fetched ${site.bytesFetched} of ${next!.length} bytes (saved ${site.bytesSaved})`);
    } finally {
      stop();
      if (run) await run;
      await central.close();
    }
  }, 400_000);
});
