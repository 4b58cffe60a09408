/**
 * A tiny stand-in for the edge executable in firmware tests: started by a slot's `run` as
 * `fake-firmware.ts SLOTDIR ARGS…` with the launcher's env. It writes a heartbeat
 * (DATA/heartbeat.json: slot, version, trial, pid), and, when it is a trial boot, runs the real
 * UpdateAgent trial with a probe that answers what SLOTDIR/behavior.json says. With
 * `--install DIR` it installs the release described in DIR/offer.json from DIR (a file source)
 * and dies with SIGKILL at the step named by FW_CRASH_AT.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { UpdateAgent } from "../agent/index.ts";
import { MemorySource } from "../testkit.ts";
import type { Slot } from "../slots.ts";

const [slotDir, ...args] = process.argv.slice(2);
const data = process.env.OPFW_DATA!;
const slot = process.env.OPFW_SLOT as Slot;
const trial = process.env.OPFW_TRIAL === "1";
const version = process.env.OPFW_VERSION!;
const behavior = JSON.parse(await fs.readFile(path.join(slotDir!, "behavior.json"), "utf8")) as { healthy: boolean };
await fs.writeFile(path.join(data, "heartbeat.json"), JSON.stringify({ slot, version, trial, pid: process.pid, at: Date.now() }));

const source = new MemorySource();
const i = args.indexOf("--install");
if (i >= 0) {
  const dir = args[i + 1]!;
  const offer = JSON.parse(await fs.readFile(path.join(dir, "offer.json"), "utf8")) as { version: string; bundle: string; targets: string; roots?: unknown[] };
  source.roots = offer.roots ?? [];
  await source.add(offer.version, offer.bundle, JSON.parse(await fs.readFile(offer.targets, "utf8")));
  source.current = { campaignId: "c1", version: offer.version };
}
const agent = new UpdateAgent({
  dataDir: data,
  source,
  slot,
  trial,
  version,
  health: async () => (behavior.healthy ? { ok: true } : { ok: false, reason: "test firmware says unhealthy" }),
  healthTimeoutMs: 300,
  healthIntervalMs: 50,
  pollMs: 100,
  log: undefined,
  onStep: (s) => {
    if (process.env.FW_CRASH_AT === s) process.kill(process.pid, "SIGKILL");
  },
});
agent.start();
process.on("SIGTERM", () => {
  agent.stop();
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
