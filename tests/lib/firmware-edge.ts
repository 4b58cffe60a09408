/**
 * Harness for the firmware system tests (tests/firmware-notify.test.ts,
 * tests/firmware-edge.test.ts): a real central (startCentralSite: control plane over MQTT/mTLS
 * + firmware), a camsim camera, and appliance edges run exactly as in the field — the launcher
 * (`outpost firmware boot`, a separate process group) running a slot's `run`, which is the real
 * edge + update agent (tests/lib/firmware-appliance.ts). Releases are small signed bundles whose
 * `run` starts that entry with this Bun (no `bun build --compile`: too slow for a test).
 */
import "reflect-metadata";
import { promises as fs } from "node:fs";
import path from "node:path";
import { startCamsim, type Camsim } from "../../camsim/index.ts";
import { startCentralSite, type CentralSite } from "../../central/main.ts";
import { enroll, type Identity } from "../../edge/identity/index.ts";
import { provision } from "../../firmware/agent/index.ts";
import { writeBundle } from "../../firmware/bundle.ts";
import { signRelease } from "../../firmware/release.ts";
import { firmwarePaths, readState, type SlotState } from "../../firmware/slots.ts";
import { pseudoRandom, testKeys, inDays, type TestKeys } from "../../firmware/testkit.ts";
import { generateKey, rotateRoot } from "../../firmware/meta.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { OUTPOST, REPO, run, tempDir } from "../helpers.ts";

export const ENTRY = path.join(REPO, "tests/lib/firmware-appliance.ts");
export const quietLog = () => new Logger({ component: "test", sink: new MemorySink(), level: "info" });

/** The last warnings and errors a memory sink took (camsim's RTSP server exiting, central's complaints): for a failure's message. */
export function warningsIn(sink: MemorySink, last = 20): string {
  return sink.records
    .filter((r) => r.level === "warn" || r.level === "error")
    .slice(-last)
    .map((r) => JSON.stringify(r))
    .join("\n");
}

export interface Release {
  version: string;
  bundleFile: string;
  targets: unknown;
  length: number;
}

/** A signed release whose `run` is the real appliance (edge + agent); payload makes it `payloadBytes` big. */
export async function edgeRelease(dir: string, keys: TestKeys, o: { version: string; metaVersion: number; payloadBytes: number; seed: number }): Promise<Release> {
  const runSh = `#!/bin/sh\nexec "${process.execPath}" "${ENTRY}" "$@"\n`;
  const bundleFile = path.join(dir, `outpost-${o.version}.bundle`);
  await writeBundle(
    {
      version: o.version,
      builtAt: "2026-01-01T00:00:00.000Z",
      minFromVersion: "0.0.0",
      files: [
        { name: "run", source: new TextEncoder().encode(runSh), executable: true },
        { name: "payload.bin", source: pseudoRandom(o.payloadBytes, o.seed) },
      ],
    },
    bundleFile,
  );
  const targets = await signRelease(bundleFile, { keys: [keys.targets], version: o.metaVersion, expires: inDays(30) });
  return { version: o.version, bundleFile, targets, length: (await fs.stat(bundleFile)).size };
}

export class FirmwareWorld {
  root!: string;
  keys!: TestKeys;
  sim!: Camsim;
  site!: CentralSite;
  token!: string;
  /** Where the world's own log (camsim, central) goes: kept in memory, shown when a test fails. */
  readonly logSink = new MemorySink();
  readonly log = new Logger({ component: "test", sink: this.logSink, level: "info" });
  readonly edges: ApplianceEdge[] = [];

  async start(): Promise<void> {
    this.root = await tempDir("fw-edge");
    this.keys = await testKeys();
    this.sim = await startCamsim({ cameras: 1, discoveryPort: null, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 160, height: 90, bitrateKbps: 100 }, log: this.log });
    this.site = await startCentralSite(
      { dataDir: path.join(this.root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } } as never,
      { log: this.log },
    );
    const login = await fetch(this.site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: this.site.central.initialAdminPassword }) });
    this.token = ((await login.json()) as { token: string }).token;
    const r = await this.api("POST", "/api/v1/firmware/roots", this.keys.rootMeta);
    if (r.status !== 201) throw new Error(`root upload: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Rotates the update keys: root 2 (signed by root 1's key and its own) goes to central; returns the new keys. */
  async rotate(): Promise<TestKeys> {
    const [root, targets] = [await generateKey(), await generateKey()];
    const rootMeta = await rotateRoot(this.keys.rootMeta, { oldRootKeys: [this.keys.root], rootKeys: [root], targetsKeys: [targets], expires: inDays(365) });
    const r = await this.api("POST", "/api/v1/firmware/roots", rootMeta);
    if (r.status !== 201) throw new Error(`root rotation upload: ${r.status} ${JSON.stringify(r.body)}`);
    return { root, targets, rootMeta };
  }

  async api(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(this.site.central.apiUrl + p, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body instanceof FormData || body === undefined ? {} : { "content-type": "application/json" }) },
      body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  async upload(rel: Release): Promise<void> {
    const f = new FormData();
    f.set("bundle", Bun.file(rel.bundleFile));
    f.set("targets", JSON.stringify(rel.targets));
    const r = await this.api("POST", "/api/v1/firmware/releases", f);
    if (r.status !== 201) throw new Error(`release upload: ${r.status} ${JSON.stringify(r.body)}`);
  }

  async campaign(version: string, sites: string[]): Promise<string> {
    const r = await this.api("POST", "/api/v1/firmware/campaigns", { version, sites, stages: [100], maxFailureRate: 1 });
    if (r.status !== 201) throw new Error(`campaign: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id as string;
  }

  async siteStatus(campaignId: string, siteId: string): Promise<any> {
    const v = (await this.api("GET", `/api/v1/firmware/campaigns/${campaignId}`)).body;
    return (v.sites as any[]).find((s) => s.id === siteId || s.site === siteId || s.siteId === siteId);
  }

  /** An enrolled, provisioned (slot a = `factory`) edge recording cam1 main; not started yet. */
  async edge(name: string, factory: Release, o: { crashAt?: "download" | "switch" | "trial"; pollS?: number } = {}): Promise<ApplianceEdge> {
    const data = path.join(this.root, name);
    const t = await this.site.central.createEnrollmentToken(name);
    const identity = await enroll({ centralUrl: this.site.central.enrollUrl, token: t.token, dataDir: data, log: this.log });
    await provision({ dataDir: data, root: this.keys.rootMeta, bundleFile: factory.bundleFile, targets: factory.targets, now: Date.now() });
    const cam = this.sim.cameras[0]!;
    const config = path.join(this.root, `${name}.yaml`);
    // JSON is YAML.
    await fs.writeFile(
      config,
      JSON.stringify({
        name,
        dataDir: data,
        logLevel: "warn",
        storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
        api: { enabled: false },
        ingest: { staggerMs: 100, backoffInitialMs: 300, backoffMaxMs: 1000, stallTimeoutMs: 3000 },
        cameras: [{ id: "cam1", rtsp: { main: cam.rtspMain }, user: this.sim.user, password: this.sim.password, streams: ["main"] }],
      }),
    );
    const e = new ApplianceEdge(name, data, config, identity, o.crashAt, o.pollS ?? 600);
    this.edges.push(e);
    return e;
  }

  async close(): Promise<void> {
    for (const e of this.edges) await e.stop();
    await this.site?.close().catch(() => undefined);
    await this.sim?.close().catch(() => undefined);
  }
}

export class ApplianceEdge {
  proc: ReturnType<typeof Bun.spawn> | null = null;
  output = "";
  constructor(
    readonly name: string,
    readonly data: string,
    readonly config: string,
    readonly identity: Identity,
    public crashAt: "download" | "switch" | "trial" | undefined,
    readonly pollS: number,
  ) {}

  /** The next power cut also kills the launcher (its whole process group), not only the slot child. */
  cutLauncher = false;

  get siteId(): string {
    return this.identity.siteId;
  }

  /**
   * The launcher in its own process group (setsid), as systemd would run it. The trial and
   * health deadlines are generous: a loaded test machine can take tens of seconds to start an
   * edge, and a deadline missed there would roll back a healthy release (they cost nothing
   * when the trial goes well).
   */
  start(): void {
    this.proc = Bun.spawn(
      ["setsid", process.execPath, OUTPOST, "firmware", "boot", "--data", this.data, "--trial-timeout", "240", "--", "firmware", "run", "--config", this.config, "--poll", String(this.pollS), "--health-timeout", "120"],
      { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...(this.crashAt ? { FW_CRASH_AT: this.crashAt } : {}), ...(this.cutLauncher ? { FW_CRASH_LAUNCHER: "1" } : {}) } },
    );
    const read = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s as unknown as AsyncIterable<Uint8Array>) this.output = (this.output + new TextDecoder().decode(c)).slice(-20_000);
    };
    void read(this.proc.stdout as ReadableStream<Uint8Array>);
    void read(this.proc.stderr as ReadableStream<Uint8Array>);
  }

  state(): Promise<SlotState> {
    return readState(firmwarePaths(this.data));
  }

  async marker(): Promise<{ at: number; what: string } | null> {
    if (!this.crashAt) return null;
    return fs.readFile(path.join(this.data, `crashed-${this.cutLauncher ? "launcher-" : ""}${this.crashAt}`), "utf8").then(JSON.parse, () => null);
  }

  /** SIGTERM to the launcher (it stops its slot child, which stops the edge); SIGKILL the group if it hangs. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    try {
      process.kill(-p.pid, "SIGTERM");
    } catch {
      // already gone
    }
    // Generous: a loaded machine can take many seconds to close the recorder (a SIGKILL here
    // would leave an unclean store that `outpost check` then reports).
    const done = await Promise.race([p.exited.then(() => true), Bun.sleep(90_000).then(() => false)]);
    if (!done) this.output += "\n[test] the launcher did not stop within 90 s of SIGTERM: SIGKILL\n";
    try {
      process.kill(-p.pid, "SIGKILL");
    } catch {
      // the group is gone
    }
    if (!done) await p.exited;
  }

  /**
   * Start times of cam1/main's segment files on disk (DATA/media/cam1/main/<day>/<startMs>.mp4),
   * readable while the edge runs (the index is its process's alone): tests wait on these instead
   * of sleeping for "some recording".
   */
  async segmentStarts(): Promise<number[]> {
    const dir = path.join(this.data, "media", "cam1", "main");
    const days = await fs.readdir(dir).catch(() => [] as string[]);
    const out: number[] = [];
    for (const d of days) for (const f of await fs.readdir(path.join(dir, d)).catch(() => [] as string[])) if (/^\d+\.mp4$/.test(f)) out.push(Number(f.slice(0, -4)));
    return out.sort((a, b) => a - b);
  }

  /** Recorded ranges of cam1/main (the edge must be stopped: one process per index). */
  async timeline(fromMs: number, toMs: number) {
    const store = await MediaStore.open({ root: this.data, minFreeBytes: 0, log: quietLog() });
    try {
      return await store.timeline({ cameraId: "cam1", stream: "main", fromMs, toMs });
    } finally {
      await store.close();
    }
  }

  check() {
    return run([process.execPath, OUTPOST, "check", "--data", this.data], { timeoutMs: 60_000 });
  }
}
