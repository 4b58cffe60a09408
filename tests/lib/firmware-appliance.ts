/**
 * Entry of the test releases in tests/lib/firmware-edge.ts: exactly `outpost firmware run`
 * (firmware/appliance.ts runAppliance: the real edge recorder + the real update agent), plus
 * one power cut. FW_CRASH_AT picks where this process SIGKILLs itself, once per data dir (a
 * marker file DATA/crashed-<where> holds the time and what was cut); with FW_CRASH_LAUNCHER=1
 * it SIGKILLs its whole process group, the launcher included (marker DATA/crashed-launcher-<where>):
 *   download  while the bundle's .part file is growing (or at "verify" if the download won the race)
 *   switch    after stage + promote, before state.json names the new slot
 *   trial     in a trial boot, at the first health probe (the edge is up, not yet committed)
 * Usage (by the launcher, through a slot's `run`): firmware-appliance.ts firmware run --config F [--poll S] [--health-timeout S]
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { runAppliance } from "../../firmware/appliance.ts";

const argv = process.argv.slice(2);
if (argv[0] === "firmware" && argv[1] === "run") argv.splice(0, 2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const data = process.env.OPFW_DATA!;
const where = process.env.FW_CRASH_AT ?? "";
// FW_CRASH_LAUNCHER=1: the cut takes the launcher too (SIGKILL to the whole process group, as
// a power cut would), not only this slot child.
const group = process.env.FW_CRASH_LAUNCHER === "1";
const marker = path.join(data, `crashed-${group ? "launcher-" : ""}${where}`);

function crash(what: string): void {
  if (!where || existsSync(marker)) return;
  const fd = openSync(marker, "w");
  writeSync(fd, JSON.stringify({ at: Date.now(), what }));
  fsyncSync(fd);
  closeSync(fd);
  // The launcher runs in its own process group (setsid): field 5 of /proc/self/stat is ours.
  if (group) process.kill(-Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[2]), "SIGKILL");
  process.kill(process.pid, "SIGKILL");
}

const dl = path.join(data, "firmware", "download");
let watch: ReturnType<typeof setInterval> | undefined;
const code = await runAppliance({
  configFile: opt("config")!,
  pollMs: opt("poll") ? Number(opt("poll")) * 1000 : undefined,
  healthTimeoutMs: opt("health-timeout") ? Number(opt("health-timeout")) * 1000 : undefined,
  hooks: {
    onStep: (s) => {
      if (where === "download" && s === "download") {
        watch = setInterval(() => {
          for (const f of existsSync(dl) ? readdirSync(dl) : []) if (f.endsWith(".part") && statSync(path.join(dl, f)).size > 0) crash("during-download");
        }, 2);
      }
      if (where === "download" && s === "verify") crash("at-verify");
      if (where === "switch" && s === "switch") crash("before-switch");
    },
    beforeHealth: () => {
      if (where === "trial" && process.env.OPFW_TRIAL === "1") crash("during-trial");
    },
  },
});
clearInterval(watch);
process.exit(code);
