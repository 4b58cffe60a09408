/**
 * Simulated GPS for tests and the demo: a route through a made-up town (legs at a speed,
 * stops, tunnels without a fix, position jumps) → NMEA 0183 (RMC + GGA per epoch) → a real
 * gpsd fed by `gpsfake` (Debian gpsd-clients) on a port of our choosing.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { project, type LatLon } from "../lib/geo.ts";

export type RouteStep =
  | { to: LatLon; speedMps: number; noFix?: boolean }
  | { stopS: number }
  | { jumpTo: LatLon }
  | { noFixS: number };

export interface Epoch {
  tS: number;
  fix: boolean;
  lat: number;
  lon: number;
  speedMps: number;
  headingDeg: number;
}

/** One epoch per second along the route (starting at `start`). */
export function routeEpochs(start: LatLon, steps: RouteStep[]): Epoch[] {
  const out: Epoch[] = [];
  let pos = { ...start };
  let heading = 0;
  let t = 0;
  const push = (fix: boolean, speed: number) => out.push({ tS: t++, fix, lat: pos.lat, lon: pos.lon, speedMps: speed, headingDeg: heading });
  push(true, 0);
  for (const s of steps) {
    if ("stopS" in s) for (let i = 0; i < s.stopS; i++) push(true, 0);
    else if ("noFixS" in s) for (let i = 0; i < s.noFixS; i++) push(false, 0);
    else if ("jumpTo" in s) {
      pos = { ...s.jumpTo };
      push(true, 0);
    } else {
      const d = project(pos, s.to);
      const dist = Math.hypot(d.x, d.y);
      heading = ((Math.atan2(d.x, d.y) * 180) / Math.PI + 360) % 360;
      const n = Math.max(1, Math.round(dist / Math.max(s.speedMps, 0.1)));
      const from = { ...pos };
      for (let i = 1; i <= n; i++) {
        pos = { lat: from.lat + ((s.to.lat - from.lat) * i) / n, lon: from.lon + ((s.to.lon - from.lon) * i) / n };
        push(!s.noFix, s.speedMps);
      }
    }
  }
  return out;
}

const cs = (body: string) => {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i);
  return x.toString(16).toUpperCase().padStart(2, "0");
};
const sentence = (body: string) => `$${body}*${cs(body)}\r\n`;
const dm = (v: number, degDigits: number) => {
  const a = Math.abs(v);
  const d = Math.floor(a);
  const m = (a - d) * 60;
  return `${String(d).padStart(degDigits, "0")}${m.toFixed(5).padStart(8, "0")}`;
};

/** NMEA for the epochs, GPS time from `baseMs` on. */
export function toNmea(epochs: Epoch[], baseMs: number): string {
  let out = "";
  for (const e of epochs) {
    const d = new Date(baseMs + e.tS * 1000);
    const hms = `${String(d.getUTCHours()).padStart(2, "0")}${String(d.getUTCMinutes()).padStart(2, "0")}${String(d.getUTCSeconds()).padStart(2, "0")}.00`;
    const dmy = `${String(d.getUTCDate()).padStart(2, "0")}${String(d.getUTCMonth() + 1).padStart(2, "0")}${String(d.getUTCFullYear() % 100).padStart(2, "0")}`;
    const lat = `${dm(e.lat, 2)},${e.lat >= 0 ? "N" : "S"}`;
    const lon = `${dm(e.lon, 3)},${e.lon >= 0 ? "E" : "W"}`;
    if (e.fix) {
      out += sentence(`GPRMC,${hms},A,${lat},${lon},${(e.speedMps * 1.943844).toFixed(2)},${e.headingDeg.toFixed(1)},${dmy},,,A`);
      out += sentence(`GPGGA,${hms},${lat},${lon},1,08,0.9,120.0,M,47.0,M,,`);
    } else {
      out += sentence(`GPRMC,${hms},V,,,,,,,${dmy},,,N`);
      out += sentence(`GPGGA,${hms},,,,,0,00,99.9,,M,,M,,`);
    }
  }
  return out;
}

/** A TCP port that was free a moment ago (gpsfake needs a number, not port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface FakeGps {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** gpsfake's own TMPDIR (its gpsd's control socket); stop() removes it, as must whoever kills the group instead. */
  controlDir: string;
  /** Stops gpsfake (and its gpsd). */
  stop(): Promise<void>;
}

/**
 * Runs gpsd through gpsfake on `port`, fed `nmea` (a file written to `file`), one sentence every
 * `cycleS` seconds; waits until gpsd answers. `loop` replays the log forever (the demo).
 */
export async function startFakeGps(o: { nmea: string; file: string; port?: number; cycleS?: number; loop?: boolean }): Promise<FakeGps> {
  await writeFile(o.file, o.nmea);
  const port = o.port ?? (await freePort());
  // gpsfake names gpsd's control socket $TMPDIR/gpsfake-<its pid>.sock, and gpsd cannot remove it
  // at exit (it has dropped root by then), so a shared /tmp collects one per run. A later gpsfake
  // that gets a pid used before finds that stale file, takes it for its gpsd being ready, fails to
  // connect to it and silently never adds its device: a gpsd without a receiver. A directory of its
  // own per instance makes the name unique; it goes with stop().
  const controlDir = await mkdtemp(join(tmpdir(), "outpost-gpsfake-"));
  const removeControlDir = () => rm(controlDir, { recursive: true, force: true });
  // Its own process group (setsid): stopping it must also stop the gpsd it started, or an orphaned
  // gpsd keeps the port and a gpsd started again there never gets it.
  const proc = Bun.spawn(["setsid", "gpsfake", "-q", ...(o.loop ? [] : ["-1"]), "-P", String(port), "-c", String(o.cycleS ?? 0.1), o.file], { stdout: "ignore", stderr: "pipe", env: { ...process.env, TMPDIR: controlDir } });
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {
      // the group is gone already
    }
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await removeControlDir();
      throw new Error(`gpsfake exited (${proc.exitCode}): ${await new Response(proc.stderr as ReadableStream).text()}`);
    }
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(s) { s.end(); } } }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      killGroup("SIGKILL");
      await removeControlDir();
      throw new Error(`gpsd (gpsfake) did not listen on port ${port}`);
    }
    await Bun.sleep(100);
  }
  return {
    port,
    proc,
    controlDir,
    stop: async () => {
      killGroup("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(5000)]);
      killGroup("SIGKILL");
      // Until the port is free again (gpsd gone), so a restart on the same port really binds it.
      for (let i = 0; i < 100; i++) {
        const open = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(s) { s.end(); } } }).then(
          () => true,
          () => false,
        );
        if (!open) break;
        await Bun.sleep(100);
      }
      await removeControlDir();
    },
  };
}
