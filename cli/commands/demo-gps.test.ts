import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_TOWN, demoRoute, startDemoGps } from "./demo-gps.ts";
import { routeEpochs } from "../../camsim/gps.ts";

test("each demo bus drives its own closed loop through the town (no jump when the replay starts over)", () => {
  const loops = [0, 1, 2, 3, 4].map((n) => routeEpochs(demoRoute(n).start, demoRoute(n).steps));
  for (const e of loops) {
    const first = e[0]!;
    const last = e.at(-1)!;
    expect(Math.abs(first.lat - last.lat) + Math.abs(first.lon - last.lon)).toBeLessThan(1e-9);
    expect(e.some((x) => x.speedMps > 0)).toBe(true);
    for (const x of e) {
      expect(Math.abs(x.lat - DEMO_TOWN.lat)).toBeLessThan(0.03);
      expect(Math.abs(x.lon - DEMO_TOWN.lon)).toBeLessThan(0.03);
    }
  }
  // different routes: no two buses share a start
  const starts = loops.map((e) => `${e[0]!.lat.toFixed(5)},${e[0]!.lon.toFixed(5)}`);
  expect(new Set(starts).size).toBe(starts.length);
});

test("without gpsfake the demo's GPS says why instead of failing", async () => {
  const r = await startDemoGps(0, tmpdir(), () => null);
  expect(r).toEqual({ why: expect.stringContaining("gpsfake is not installed") });
});

test("a demo that exits without stopping (a second Ctrl-C) leaves no gpsd/gpsfake behind", async () => {
  const dir = await mkdtemp(join(tmpdir(), "fleetmap-demogps-"));
  const script = `import { startDemoGps } from ${JSON.stringify(join(import.meta.dir, "demo-gps.ts"))};\nconst r = await startDemoGps(1, ${JSON.stringify(dir)});\nconsole.log(JSON.stringify("gps" in r ? { port: r.gps.port, controlDir: r.gps.controlDir } : r));\nprocess.exit(130);\n`;
  await writeFile(join(dir, "run.ts"), script);
  const p = Bun.spawn(["bun", join(dir, "run.ts")], { stdout: "pipe", stderr: "inherit" });
  const out = JSON.parse((await new Response(p.stdout).text()).trim()) as { port?: number; controlDir?: string; why?: string };
  await p.exited;
  expect(out.port).toBeGreaterThan(0); // gpsd + gpsfake are installed by scripts/bootstrap.sh
  expect(existsSync(out.controlDir!)).toBe(false); // gpsd's control socket goes with it
  const open = () => Bun.connect({ hostname: "127.0.0.1", port: out.port!, socket: { data() {}, open(s) { s.end(); } } }).then(() => true, () => false);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !(await open());
    if (!gone) await Bun.sleep(100);
  }
  expect(gone).toBe(true);
  await rm(dir, { recursive: true, force: true });
}, 30_000);

test("a demo killed hard (kill -9: no exit handler) leaves a gpsd/gpsfake that the next demo start on the same data ends", async () => {
  const dir = await mkdtemp(join(tmpdir(), "fleetmap-demogps-"));
  const script = `import { startDemoGps } from ${JSON.stringify(join(import.meta.dir, "demo-gps.ts"))};\nconst r = await startDemoGps(1, ${JSON.stringify(dir)});\nconsole.log(JSON.stringify("gps" in r ? { port: r.gps.port, controlDir: r.gps.controlDir } : r));\nprocess.kill(process.pid, "SIGKILL");\n`;
  await writeFile(join(dir, "run.ts"), script);
  const p = Bun.spawn(["bun", join(dir, "run.ts")], { stdout: "pipe", stderr: "inherit" });
  const out = JSON.parse((await new Response(p.stdout).text()).trim()) as { port?: number; controlDir?: string };
  await p.exited;
  expect(out.port).toBeGreaterThan(0);
  expect(existsSync(out.controlDir!)).toBe(true);
  const open = () => Bun.connect({ hostname: "127.0.0.1", port: out.port!, socket: { data() {}, open(s) { s.end(); } } }).then(() => true, () => false);
  expect(await open()).toBe(true); // left behind: the hard kill ran no handler
  const leftGroup = Number(await Bun.file(join(dir, "gps-1.pgid")).text());
  const again = await startDemoGps(1, dir);
  try {
    expect("gps" in again).toBe(true);
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !(await open());
      if (!gone) await Bun.sleep(100);
    }
    expect(gone).toBe(true);
    expect(existsSync(out.controlDir!)).toBe(false); // and the control socket it left
  } finally {
    if ("gps" in again) await again.gps.stop();
    try {
      process.kill(-leftGroup, "SIGKILL"); // only if the check above failed
    } catch {}
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);
