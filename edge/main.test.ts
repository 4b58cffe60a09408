/**
 * Edge wiring: config validation, runEdge's CLI errors, the API served from edge/api with the
 * deps built here, and the no-default-password rule.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, stat, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError } from "../lib/cli/index.ts";
import { ConfigError } from "../lib/config/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { startCamsim } from "../camsim/index.ts";
import { effectiveReadBatchMs, loadEdgeConfig } from "./config.ts";
import { runEdge, startEdge } from "./main.ts";
import { createCa, generateKeyPair, issueSiteCert } from "../federation/pki.ts";
import { writeCa, writeGeneration, writeMeta } from "./identity/store.ts";

const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), "outpost-edge-main-"));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("config: defaults, dataDir relative to the file, errors name the key", async () => {
  const d = await tmp();
  const f = join(d, "edge.yaml");
  await writeFile(f, "dataDir: store\ncameras:\n  - id: a\n    rtsp: { main: rtsp://10.0.0.1/s }\n");
  const cfg = await loadEdgeConfig(f, { env: {} });
  expect(cfg.dataDir).toBe(join(d, "store"));
  expect(cfg.cameras[0]!.streams).toEqual(["main", "sub"]);
  expect(cfg.ingest.stallTimeoutMs).toBe(5000);
  await writeFile(f, "cameras:\n  - id: a\n    rtsp: { main: http://x }\napi: { port: 99999 }\n");
  const e = await loadEdgeConfig(f, { env: {} }).catch((x) => x);
  expect(e).toBeInstanceOf(ConfigError);
  expect(e.message).toContain("cameras.0.rtsp.main");
  expect(e.message).toContain("api.port");
  const env = await loadEdgeConfig(undefined, { env: { OUTPOST_INGEST__STALL_TIMEOUT_MS: "2000" } });
  expect(env.ingest.stallTimeoutMs).toBe(2000);
  // Durability: per-stream fsync unless the volume sync is asked for; anything else is refused by name.
  expect(cfg.storage.durabilitySync).toBe("file");
  await writeFile(f, "storage: { durabilitySync: volume }\n");
  expect((await loadEdgeConfig(f, { env: {} })).storage.durabilitySync).toBe("volume");
  await writeFile(f, "storage: { durabilitySync: never }\n");
  expect(((await loadEdgeConfig(f, { env: {} }).catch((x) => x)) as Error).message).toContain("storage.durabilitySync");
  // The loss budget: fsync right after the write and 250 ms read batches by default; with a tick
  // (an older config set for SD wear) the batch is shortened so batch + tick stay within 400 ms.
  expect([cfg.storage.durabilityMs, cfg.ingest.readBatchMs]).toEqual([0, 250]);
  expect(effectiveReadBatchMs(cfg)).toEqual({ ms: 250, lowered: false });
  await writeFile(f, "storage: { durabilityMs: 300 }\n");
  expect(effectiveReadBatchMs(await loadEdgeConfig(f, { env: {} }))).toEqual({ ms: 100, lowered: true });
  await writeFile(f, "storage: { durabilityMs: 500 }\ningest: { readBatchMs: 50 }\n");
  expect(effectiveReadBatchMs(await loadEdgeConfig(f, { env: {} }))).toEqual({ ms: 0, lowered: true });
  await writeFile(f, "storage: { durabilityMs: 5 }\n");
  expect(((await loadEdgeConfig(f, { env: {} }).catch((x) => x)) as Error).message).toContain("must be 0 (at once) or at least 10");
});

test("runEdge: missing --config and a bad file are CLI errors, nothing starts", async () => {
  await expect(runEdge([])).rejects.toBeInstanceOf(CliError);
  const d = await tmp();
  const f = join(d, "bad.yaml");
  await writeFile(f, "admin: { passwordHash: hunter2 }\n");
  const e = await runEdge(["--config", f]).catch((x) => x);
  expect(e).toBeInstanceOf(CliError);
  expect(e.message).toContain("admin.passwordHash");
  expect(e.message).toContain("argon2id");
});

test("startEdge serves the edge API with cameras and health; without a password hash login is disabled and says how to set one", async () => {
  const d = await tmp();
  const sink = new MemorySink();
  const edge = await startEdge(
    { dataDir: d, api: { port: 0 }, storage: { minFreeBytes: 0 }, cameras: [{ id: "gone", rtsp: { main: "rtsp://127.0.0.1:1/x" } }] },
    { log: new Logger({ component: "edge", sink, level: "debug" }) },
  );
  try {
    // HTTPS by default, with the edge's own self-signed certificate (the client trusts exactly that certificate)
    expect(edge.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const tls = { tls: { ca: edge.apiCert!.pem } };
    expect(sink.records.some((r) => r.level === "warn" && /passwordHash/.test(r.msg))).toBe(true);
    const login = await fetch(`${edge.url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: "admin" }), ...tls });
    expect(login.status).toBeGreaterThanOrEqual(400);
    const health = await fetch(`${edge.url}/api/v1/health`, tls);
    expect([200, 401]).toContain(health.status);
    await Bun.sleep(300);
    const st = edge.status();
    expect(st.cameras[0]!.id).toBe("gone");
    expect(st.cameras[0]!.streams[0]!.reason).toBe("camera-offline");
  } finally {
    await edge.stop();
  }
  await edge.stop(); // idempotent
});

test("local API certificate: kept across restarts (pins stay valid), made anew when api.serverNames change; plain HTTP only with api.plainHttp and a warning", async () => {
  const d = await tmp();
  const base = { dataDir: d, storage: { minFreeBytes: 0 }, cameras: [], admin: { passwordHash: await Bun.password.hash("edge-pw", "argon2id") } };
  const run = async (api: Record<string, unknown>) => {
    const sink = new MemorySink();
    const edge = await startEdge({ ...base, api: { port: 0, ...api } }, { log: new Logger({ component: "edge", sink, level: "debug" }) });
    const out = { url: edge.url!, cert: edge.apiCert, warned: sink.records.some((r) => r.level === "warn" && /plain HTTP/.test(r.msg)) };
    const tls = out.cert ? { tls: { ca: out.cert.pem } } : {};
    const health = await fetch(`${out.url}/api/v1/health`, tls).then((r) => r.status);
    const login = await fetch(`${out.url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: "edge-pw" }), ...tls });
    await edge.stop();
    return { ...out, health, cookie: login.headers.get("set-cookie") ?? "" };
  };
  const first = await run({});
  expect(first.health).toBe(200);
  expect(first.cookie).toMatch(/;\s*Secure/i);
  expect((await stat(first.cert!.file)).mode & 0o777).toBe(0o600);
  expect((await stat(join(d, "api-tls", "key.pem"))).mode & 0o777).toBe(0o600);
  const again = await run({});
  expect(again.cert!.fingerprint).toBe(first.cert!.fingerprint);
  const renamed = await run({ serverNames: ["127.0.0.1", "edge.example"] });
  expect(renamed.cert!.fingerprint).not.toBe(first.cert!.fingerprint);
  expect(renamed.health).toBe(200);
  // a key left from an interrupted rewrite (key written, certificate not) is replaced, not served
  await writeFile(join(d, "api-tls", "cert.pem"), first.cert!.pem);
  const repaired = await run({ serverNames: ["localhost", "127.0.0.1", "::1"] });
  expect(repaired.health).toBe(200);
  expect(repaired.cert!.fingerprint).not.toBe(first.cert!.fingerprint);
  const plain = await run({ plainHttp: true });
  expect(plain.url).toMatch(/^http:\/\//);
  expect(plain.cert).toBeUndefined();
  expect(plain.warned).toBe(true);
  expect(plain.health).toBe(200);
  expect(plain.cookie).toContain("outpost_session=");
  expect(plain.cookie).not.toMatch(/Secure/i);
  expect(first.warned).toBe(false);
});

// Each optional feature loads its modules when it is on (edge/main.ts): the memory budget of a
// recorder at a bus's size (docs/design/memory.md) depends on it, so a static import on the
// recording path fails here. A child process, because this one has loaded everything already.
test("a recorder that is not enrolled, serves no API and exports no metrics loads no PKI, MQTT, ONVIF or Prometheus code; turning them on loads theirs; an enrolled one loads MQTT but no X.509 stack", async () => {
  const loadedBy = async (config: Record<string, unknown>, d?: string) => {
    d ??= await tmp();
    const file = join(d, "run.ts");
    await writeFile(
      file,
      `import { startEdge } from ${JSON.stringify(join(import.meta.dir, "main.ts"))};
       import { Logger, MemorySink } from ${JSON.stringify(join(import.meta.dir, "../lib/log/index.ts"))};
       const edge = await startEdge(${JSON.stringify({ dataDir: join(d, "data"), storage: { minFreeBytes: 0 }, cameras: [{ id: "gone", rtsp: { main: "rtsp://127.0.0.1:1/x" } }], ...config })}, { log: new Logger({ component: "edge", sink: new MemorySink() }) });
       const loaded = Object.keys(require.cache);
       await edge.stop();
       console.log(JSON.stringify(loaded));`,
    );
    const p = Bun.spawn(["bun", file], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    const loaded = JSON.parse(out.trim().split("\n").at(-1)!) as string[];
    expect(loaded.some((m) => m.endsWith("/edge/ingest/stream.ts"))).toBe(true); // the list is the real one
    return (pkg: string) => loaded.some((m) => m.includes(`/node_modules/${pkg}/`));
  };
  const plain = await loadedBy({ api: { enabled: false } });
  expect(["mqtt", "@peculiar/x509", "asn1js", "onvif", "xml2js", "prom-client"].filter(plain)).toEqual([]);
  // With the API and metrics on, the first start makes the API's own certificate (X.509 code) and
  // serves metrics (Prometheus code); still no MQTT or ONVIF.
  const d = await tmp();
  const served = await loadedBy({ api: { port: 0 }, metrics: { port: 0 } }, d);
  expect(["@peculiar/x509", "prom-client"].filter(served)).toEqual(["@peculiar/x509", "prom-client"]);
  expect(["mqtt", "onvif"].filter(served)).toEqual([]);
  // The next start keeps that certificate (checked without the X.509 stack) and serves the same one.
  const again = await loadedBy({ api: { port: 0 } }, d);
  expect(["@peculiar/x509", "asn1js"].filter(again)).toEqual([]);
  // Enrolled (an identity on disk; central unreachable here): the uplink's MQTT client, and still no
  // X.509 stack — reading the identity and signing custody heads use the runtime's parsers.
  const e = await tmp();
  const ca = await createCa({ name: "test CA", now: Date.now(), lifetimeDays: 30 });
  const kp = await generateKeyPair();
  const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 10, siteId: "site-1" });
  const data = join(e, "data");
  await writeGeneration(data, 1, kp.keyPem, cert.toString("pem"));
  await writeCa(data, ca.certPem);
  await writeMeta(data, { siteId: "site-1", siteName: "Bus 1", federationUrl: "https://127.0.0.1:1", mqttUrl: "mqtts://127.0.0.1:1", enrolledAt: new Date().toISOString(), gen: 1 });
  const enrolled = await loadedBy({ api: { enabled: false } }, e);
  expect(["mqtt"].filter(enrolled)).toEqual(["mqtt"]);
  expect(["@peculiar/x509", "asn1js", "onvif", "prom-client"].filter(enrolled)).toEqual([]);
}, 60_000);

test("a store that refuses to open: startEdge fails and no camera session is left running or started later", async () => {
  // A "camera" that accepts RTSP connections and never answers, and a store that refuses its config.
  let accepted = 0;
  const open = new Set<unknown>();
  const cam = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => {
        accepted++;
        open.add(s);
      },
      data: () => undefined,
      close: (s) => {
        open.delete(s);
      },
    },
  });
  try {
    const d = await tmp();
    const s = await statfs(d);
    const err = await startEdge(
      {
        dataDir: join(d, "data"),
        api: { enabled: false },
        storage: { minFreeBytes: s.blocks * s.bsize + 1 },
        cameras: [{ id: "cam1", rtsp: { main: `rtsp://127.0.0.1:${cam.port}/main` }, streams: ["main"] }],
      },
      { logSink: new MemorySink() },
    ).catch((e: Error) => e);
    expect((err as Error).name).toBe("StoreInputError");
    const deadline = Date.now() + 10_000;
    while (open.size > 0 && Date.now() < deadline) await Bun.sleep(50);
    expect(open.size).toBe(0);
    // Native cameras connect while the store opens: a connect already in flight when the store
    // refused may still land (and is closed at once); what must not happen is a retry later.
    await Bun.sleep(300);
    expect(open.size).toBe(0);
    const after = accepted;
    await Bun.sleep(1500); // longer than the ingest's first backoff (500 ms)
    expect(accepted).toBe(after);
    expect(open.size).toBe(0);
  } finally {
    cam.stop(true);
  }
});

test("native engine: the cameras connect while the store opens (recording after a restart does not wait for the index and recovery)", async () => {
  // What happened first: the camera's connection or the store's "store open" line.
  const order: string[] = [];
  const cam = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: () => void order.push("camera connected"), data: () => undefined },
  });
  const sink = { write: (r: { msg: string }) => void (r.msg === "store open" && order.push("store open")) };
  const d = await tmp();
  const edge = await startEdge(
    {
      dataDir: join(d, "data"),
      api: { enabled: false },
      storage: { minFreeBytes: 0 },
      ingest: { engine: "native" },
      cameras: [{ id: "cam1", rtsp: { main: `rtsp://127.0.0.1:${cam.port}/main` }, streams: ["main"] }],
    },
    { logSink: sink, serveApi: false },
  );
  try {
    const deadline = Date.now() + 10_000;
    while (order.length < 2 && Date.now() < deadline) await Bun.sleep(20);
    expect(order).toEqual(["camera connected", "store open"]);
  } finally {
    await edge.stop();
    cam.stop(true);
  }
});

test("native engine: recording starts when the store is open, without waiting for custody, position and previews to attach", async () => {
  const d = await tmp();
  const dataDir = join(d, "data");
  // A store with a committed segment that no custody chain holds yet: custody's attach
  // reconciles it and asks for its signer, which this test holds until the camera records.
  const media = await makeMedia(d, 2);
  const pre = await MediaStore.open({ root: dataDir, log: new Logger({ component: "store", sink: new MemorySink() }), minFreeBytes: 0 });
  const w = pre.writer("old", "main");
  w.init(media.init, media.info);
  for (const f of media.frags) await w.fragment(f.bytes, f.info, Date.now() - 60_000 + f.info.startMs + f.info.durationMs);
  await w.end("stopped");
  await pre.close();

  const sim = await startCamsim({ cameras: 1, main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, discoveryPort: null, log: new Logger({ component: "camsim", sink: new MemorySink() }) });
  let release!: () => void;
  const held = new Promise<null>((r) => (release = () => r(null)));
  let signerAsked = false;
  const started = startEdge(
    {
      dataDir,
      api: { enabled: false },
      storage: { minFreeBytes: 0 },
      ingest: { engine: "native" },
      cameras: [{ id: "cam1", rtsp: { main: sim.cameras[0]!.rtspMain }, user: sim.user, password: sim.password, streams: ["main"] }],
    },
    { logSink: new MemorySink(), serveApi: false, custody: { signer: () => ((signerAsked = true), held), siteId: "test", caPem: "" } },
  );
  const recorded = async () => (await readdir(join(dataDir, "media", "cam1"), { recursive: true }).catch(() => [])).some((f) => String(f).endsWith(".mp4"));
  try {
    const deadline = Date.now() + 15_000;
    while (!(await recorded()) && Date.now() < deadline) await Bun.sleep(20);
    // Before: the writers waited for custody's attach, which waited for its signer: nothing recorded.
    expect({ recorded: await recorded(), custodyAttaching: signerAsked }).toEqual({ recorded: true, custodyAttaching: true });
  } finally {
    release();
    const edge = await started;
    await edge.stop();
    await sim.close();
  }
}, 40_000);

test("a clean stop stores the box of every segment it cut (position writes the index before it closes), and warns of none", async () => {
  const d = await tmp();
  const dataDir = join(d, "data");
  const sink = new MemorySink();
  const sim = await startCamsim({ cameras: 1, main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, discoveryPort: null, log: new Logger({ component: "camsim", sink: new MemorySink() }) });
  try {
    const edge = await startEdge(
      {
        dataDir,
        api: { enabled: false },
        storage: { minFreeBytes: 0, segmentDurationMs: 1000 },
        cameras: [{ id: "cam1", rtsp: { main: sim.cameras[0]!.rtspMain }, user: sim.user, password: sim.password, streams: ["main"] }],
      },
      { logSink: sink, serveApi: false },
    );
    // A box made slowly (a busy machine: the track's reads queue behind the index's other work),
    // so that the stop's later steps would reach the index's close before the box is written.
    const track = edge.position.track;
    const bbox = track.bbox.bind(track);
    track.bbox = async (from, to) => {
      await Bun.sleep(300);
      return bbox(from, to);
    };
    try {
      const deadline = Date.now() + 30_000;
      // A moving vehicle (fixes as gpsd would give them). One segment committed while recording,
      // then the stop cuts the next one.
      let step = 0;
      while (!(await edge.store.cameras()).some((c) => c.segments > 1) && Date.now() < deadline) {
        edge.position.fix({ atMs: Date.now(), mode: 3, lat: 59.9 + step * 0.001, lon: 10.7 + step * 0.001, speed: 10, heading: (step * 40) % 360 });
        step++;
        await Bun.sleep(50);
      }
    } finally {
      // Stopped mid-segment: the stop cuts it, and its commit is the one whose box was refused.
      await edge.stop();
    }
  } finally {
    await sim.close();
  }
  expect(sink.records.filter((r) => r.level === "warn" || r.level === "error").map((r) => r.msg)).not.toContain("segment box not stored");
  const store = await MediaStore.open({ root: dataDir, log: new Logger({ component: "store", sink: new MemorySink() }), minFreeBytes: 0 });
  try {
    const segments = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: Date.now() + 60_000 })).map((s) => s.startMs);
    const boxed = (await store.companionIndex.all(`SELECT start_ms FROM segment_bbox WHERE camera_id = $1 AND stream = $2 ORDER BY start_ms`, ["cam1", "main"])).map((r) => Number(r.start_ms));
    expect(segments.length).toBeGreaterThan(1);
    expect(boxed).toEqual(segments);
  } finally {
    await store.close();
  }
}, 60_000);
