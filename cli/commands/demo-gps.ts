/**
 * The demo's moving buses: each demo edge gets its own gpsd (through gpsfake, replaying NMEA the
 * demo generates in a loop, in real time) driving a different loop through a made-up town, with
 * a stop at every corner. Without gpsd/gpsfake (Debian: gpsd, gpsd-clients) the demo still
 * starts; the buses then have no position and the demo says why.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { LatLon } from "../../lib/geo.ts";
import type { FakeGps, RouteStep } from "../../camsim/gps.ts";

/** The made-up town's centre (an empty spot on any map: the demo draws no tiles). */
export const DEMO_TOWN: LatLon = { lat: 47.37, lon: 8.54 };
/** One block of the town's street grid, about 165 m either way at this latitude. */
const BLOCK = { lat: 0.0015, lon: 0.0022 };
/** Loops in blocks from the centre (x east, y north); edge N drives loop N mod 4, shifted for N ≥ 4. */
const LOOPS: [number, number][][] = [
  [[0, 0], [0, 3], [3, 3], [3, 0]],
  [[2, -2], [5, -2], [5, 2], [2, 2]],
  [[-3, 1], [0, 1], [0, -3], [-3, -3]],
  [[-2, 2], [-2, 5], [1, 5], [1, 2]],
];

/** Route steps of edge `n`'s loop (it ends where it starts, so the replay loops without a jump). */
export function demoRoute(n: number): { start: LatLon; steps: RouteStep[] } {
  const shift = Math.floor(n / LOOPS.length) * 6;
  const at = ([x, y]: [number, number]): LatLon => ({ lat: DEMO_TOWN.lat + (y + shift) * BLOCK.lat, lon: DEMO_TOWN.lon + x * BLOCK.lon });
  const corners = LOOPS[n % LOOPS.length]!.map(at);
  const speedMps = 8 + (n % 3) * 2;
  const steps: RouteStep[] = [{ stopS: 5 }];
  for (const c of [...corners.slice(1), corners[0]!]) steps.push({ to: c, speedMps }, { stopS: 8 });
  return { start: corners[0]!, steps };
}

/** Starts edge `n`'s gpsd; null (and why) when gpsd/gpsfake are missing or fail to start. */
export async function startDemoGps(n: number, dir: string, which: (cmd: string) => string | null = (c) => Bun.which(c)): Promise<{ gps: FakeGps } | { why: string }> {
  if (!which("gpsfake")) return { why: "gpsfake is not installed (Debian: apt install gpsd gpsd-clients)" };
  const { routeEpochs, startFakeGps, toNmea } = await import("../../camsim/gps.ts");
  const r = demoRoute(n);
  const groupFile = join(dir, `gps-${n}.pgid`);
  endLeftoverGroup(groupFile);
  try {
    // two sentences (RMC, GGA) per one-second epoch: 0.5 s apart is real time
    const gps = await startFakeGps({ nmea: toNmea(routeEpochs(r.start, r.steps), Date.now()), file: join(dir, `route-${n}.nmea`), cycleS: 0.5, loop: true });
    // gpsfake runs in its own session (its pid is the group's) and loops forever: a demo that
    // exits without its stop (a second Ctrl-C exits at once) must not leave it behind, and one
    // killed hard (no exit handler runs) leaves the group's id for its next start to end.
    writeFileSync(groupFile, `${gps.proc.pid}\n${gps.controlDir}\n`);
    const orphan = () => {
      try {
        process.kill(-gps.proc.pid, "SIGKILL");
      } catch {
        // gone already
      }
      rmSync(gps.controlDir, { recursive: true, force: true });
      rmSync(groupFile, { force: true });
    };
    process.on("exit", orphan);
    return {
      gps: {
        ...gps,
        stop: async () => {
          process.off("exit", orphan);
          await gps.stop();
          rmSync(groupFile, { force: true });
        },
      },
    };
  } catch (e) {
    return { why: `gpsd (through gpsfake) did not start: ${(e as Error).message.split("\n")[0]}` };
  }
}

/**
 * Ends the gpsfake/gpsd process group a previous demo on this data directory left when it was
 * killed hard (gpsd is gpsfake's child, so a parent-death signal on gpsfake alone would still
 * leave gpsd). Only a group that still holds a gpsfake or gpsd is killed: a group id is not
 * reused while any member lives, and a dead group's id may be reused by anything.
 */
function endLeftoverGroup(file: string): void {
  let pgid: number;
  let controlDir: string | undefined;
  try {
    const [group, dir] = readFileSync(file, "utf8").split("\n");
    pgid = Number(group);
    controlDir = dir;
  } catch {
    return; // none recorded: the last demo stopped cleanly, or none ran here
  }
  if (Number.isInteger(pgid) && pgid > 1 && groupRunsGps(pgid)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // ended meanwhile
    }
  }
  // Only ever the directory startFakeGps made: the file is ours, but a path read back is checked.
  if (controlDir && basename(controlDir).startsWith("outpost-gpsfake-")) rmSync(controlDir, { recursive: true, force: true });
  rmSync(file, { force: true });
}

function groupRunsGps(pgid: number): boolean {
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // After the command name in parentheses: state, ppid, pgrp.
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
      if (/gpsfake|gpsd/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"))) return true;
    } catch {
      // ended meanwhile
    }
  }
  return false;
}
