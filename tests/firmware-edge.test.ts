/**
 * kill -9 of the real edge at install steps (issue 9): each appliance edge runs under the
 * launcher (`outpost firmware boot`) as in the field; its slot's `run` is the real edge
 * recorder (startEdge, recording a camsim camera, enrolled with a real central) plus the real
 * update agent (runAppliance), via tests/lib/firmware-appliance.ts which adds one SIGKILL:
 *   download  while DATA/firmware/download/*.part grows
 *   switch    after the new slot is staged and promoted, before state.json switches to it
 *   trial     during the trial boot of the new slot, at its first health probe
 * Between 1.0.0 (the factory release, root 1) and 1.1.0 the update keys are rotated: 1.1.0 is
 * signed by a new targets key that only root 2 lists (issue 12: a rotation followed by a power
 * cut used to leave no verifiable slot). A campaign (central → "_firmware-check" → agent)
 * offers 1.1.0 (a 6 MB bundle) to all three.
 * After each cut the launcher restarts, boots a verified slot, the agent resumes or redoes the
 * install, and 1.1.0 ends committed; the camera's timeline has recordings before the cut and
 * after the final boot, and `outpost check --data DIR` exits 0 on every edge.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { firmwarePaths, readTrustedRoot, verifySlot } from "../firmware/slots.ts";
import { removeTempDirs, until } from "./helpers.ts";
import { edgeRelease, FirmwareWorld, warningsIn, type ApplianceEdge, type Release } from "./lib/firmware-edge.ts";

const w = new FirmwareWorld();
let v1: Release;
let v2: Release;
let keys2: Awaited<ReturnType<FirmwareWorld["rotate"]>>;
const edges: ApplianceEdge[] = [];
const CUTS = ["download", "switch", "trial"] as const;

beforeAll(async () => {
  await w.start();
  v1 = await edgeRelease(w.root, w.keys, { version: "1.0.0", metaVersion: 1, payloadBytes: 6 * 1024 * 1024, seed: 1 });
  keys2 = await w.rotate();
  v2 = await edgeRelease(w.root, keys2, { version: "1.1.0", metaVersion: 2, payloadBytes: 6 * 1024 * 1024, seed: 2 });
  await w.upload(v2);
  for (const cut of CUTS) {
    const e = await w.edge(`edge-${cut}`, v1, { crashAt: cut, pollS: 600 });
    edges.push(e);
    e.start();
    await Bun.sleep(500); // stagger the RTSP sessions on the one camsim mount
  }
  await until("edges connected", () => edges.every((e) => w.site.sites.online(e.siteId)), 60_000);
}, 180_000);

afterAll(async () => {
  await w.close();
  await removeTempDirs();
}, 120_000);

/** Waits until campaign `id` reports every edge healthy on `version`; on a timeout the error carries each launcher's output. */
function allHealthy(id: string, version: string) {
  return until(
    `all three edges healthy on ${version}`,
    async () => {
      const st = await Promise.all(edges.map((e) => w.siteStatus(id, e.siteId)));
      return st.every((s) => s?.state === "healthy") ? st : null;
    },
    300_000,
    500,
  ).catch((err) => {
    // The world's own log too: once all three edges lost the camera at the same instant (camsim's side).
    throw new Error(`${(err as Error).message}\n${edges.map((e) => `--- ${e.name} launcher output:\n${e.output.slice(-3000)}`).join("\n")}\n--- camsim and central warnings:\n${warningsIn(w.logSink)}`);
  });
}

/** Waits until `e` has segment files starting at or after `fromMs` that span ≥ `spanMs` (those before the last are closed). */
async function recordedSince(e: ApplianceEdge, fromMs: number, spanMs: number, what: string): Promise<void> {
  await until(
    `${e.name}: ${what}`,
    async () => {
      const s = (await e.segmentStarts()).filter((t) => t >= fromMs);
      return s.length >= 2 && s[s.length - 1]! - s[0]! >= spanMs;
    },
    120_000,
    250,
  );
}

test("kill -9 during download / before switch / during trial → verified slot, update completes, recording continues", async () => {
  // Some recording on 1.0.0 before the campaign: ≥ 5 s of closed segments on each edge (a
  // loaded machine starts the recorders late; a fixed sleep used to leave too little).
  for (const e of edges) await recordedSince(e, 0, 5000, "recording on 1.0.0");
  const t0 = Date.now();
  const id = await w.campaign("1.1.0", edges.map((e) => e.siteId));
  const done = await allHealthy(id, "1.1.0");
  // Recording on the committed slot (≥ 5 s of closed segments after the commit), then stop
  // everything to read the stores.
  for (const e of edges) {
    const st = await e.state();
    await recordedSince(e, Date.parse(st.lastResult!.at), 5000, "recording after the commit");
  }
  const tStop = Date.now();
  for (const e of edges) await e.stop();

  for (const [i, e] of edges.entries()) {
    const m = await e.marker();
    expect(m, `${e.name}: the power cut happened`).not.toBeNull();
    if (e.crashAt === "download") expect(["during-download", "at-verify"]).toContain(m!.what);
    const st = await e.state();
    expect(st).toMatchObject({ current: "b", pending: null });
    expect(st.lastResult).toMatchObject({ version: "1.1.0", outcome: "committed" });
    // The committed slot verifies (signature + every file hash), as the launcher checked at boot.
    const p = firmwarePaths(e.data);
    const anchor = await readTrustedRoot(p);
    expect(anchor.signed.version).toBe(2); // root 2 became the anchor when 1.1.0 committed
    expect((await verifySlot(p, "b", anchor)).signed.release.version).toBe("1.1.0");
    expect((await verifySlot(p, "a", anchor)).signed.release.version).toBe("1.0.0"); // still a verified fallback
    expect(done[i].running).toBe("1.1.0");
    if (m!.what === "during-download") expect(done[i].bytesFetched).toBeLessThan(v2.length);

    const committedAt = Date.parse(st.lastResult!.at);
    const tl = await e.timeline(t0 - 120_000, tStop + 60_000);
    const covered = (a: number, b: number) => tl.ranges.reduce((n, r) => n + Math.max(0, Math.min(b, r.endMs) - Math.max(a, r.startMs)), 0);
    expect(covered(t0 - 120_000, m!.at), `${e.name}: recorded before the cut`).toBeGreaterThan(3000);
    expect(covered(committedAt, tStop), `${e.name}: recorded after the final boot`).toBeGreaterThan(4000);
    const c = await e.check();
    expect(c.code, `${e.name}: outpost check\n${c.stdout}\n${c.stderr}\n--- launcher output:\n${e.output.slice(-3000)}`).toBe(0);
    console.log(`firmware-edge ${e.name}: cut ${m!.what}, committed ${committedAt - t0} ms after campaign start, fetched ${done[i].bytesFetched ?? "?"} of ${v2.length} B, ranges ${tl.ranges.length}, gaps ${tl.gaps.length}`);
  }
}, 600_000);

test("kill -9 of the launcher itself (and its slot child) during download / before switch / during trial → restarted, the slots recover and 1.2.0 commits", async () => {
  // The edges are stopped on 1.1.0 (slot b, committed). 1.2.0 goes to slot a; each power cut now
  // takes the whole process group, launcher included, and the test plays systemd: it reads what
  // the cut left on disk, then starts the launcher again.
  const v3 = await edgeRelease(w.root, keys2, { version: "1.2.0", metaVersion: 3, payloadBytes: 6 * 1024 * 1024, seed: 3 });
  await w.upload(v3);
  for (const e of edges) {
    e.cutLauncher = true;
    e.start();
    await Bun.sleep(500); // stagger the RTSP sessions on the one camsim mount
  }
  await until("edges connected", () => edges.every((e) => w.site.sites.online(e.siteId)), 120_000);
  const id = await w.campaign("1.2.0", edges.map((e) => e.siteId));
  await Promise.all(
    edges.map(async (e) => {
      const launcher = e.proc!;
      await launcher.exited;
      expect(launcher.signalCode, `${e.name}: the launcher was killed`).toBe("SIGKILL");
      const m = await e.marker();
      expect(m, `${e.name}: the power cut happened`).not.toBeNull();
      // What the cut left: 1.1.0 still committed in b; only the trial cut has a pending slot,
      // with its boot counted before the trial ran.
      const st = await e.state();
      expect(st.current).toBe("b");
      if (e.crashAt === "trial") expect(st).toMatchObject({ pending: "a", tries: 1 });
      else expect(st).toMatchObject({ pending: null, tries: 0 });
      e.proc = null;
      e.start(); // systemd: Restart=always
    }),
  );
  await allHealthy(id, "1.2.0");
  for (const e of edges) {
    const st = await e.state();
    await recordedSince(e, Date.parse(st.lastResult!.at), 4000, "recording after the commit of 1.2.0");
  }
  for (const e of edges) await e.stop();
  for (const e of edges) {
    const st = await e.state();
    expect(st).toMatchObject({ current: "a", pending: null, tries: 0 });
    expect(st.lastResult).toMatchObject({ version: "1.2.0", outcome: "committed" });
    const p = firmwarePaths(e.data);
    const anchor = await readTrustedRoot(p);
    expect((await verifySlot(p, "a", anchor)).signed.release.version).toBe("1.2.0");
    expect((await verifySlot(p, "b", anchor)).signed.release.version).toBe("1.1.0"); // the fallback
    const c = await e.check();
    const ps = Bun.spawnSync(["ps", "-eo", "pid,pgid,stat,args"]).stdout.toString().split("\n").filter((l) => l.includes(e.name)).join("\n");
    expect(c.code, `${e.name}: outpost check\n${c.stdout}\n${c.stderr}\n--- processes:\n${ps}\n--- launcher output:\n${e.output.slice(-3000)}`).toBe(0);
    console.log(`firmware-edge ${e.name}: launcher cut ${(await e.marker())!.what}, 1.2.0 committed`);
  }
}, 600_000);
