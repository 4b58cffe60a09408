/**
 * Appliance run mode (`outpost firmware run`, started by the launcher in a slot): the edge
 * recorder (edge/main.ts startEdge) plus the update agent in one process. The agent sees the
 * recorder only through streamsProbe(edge.status); without an enrolled identity it only does
 * the trial health check (no central to ask for updates).
 */
import "reflect-metadata"; // @peculiar/x509 (edge identity) needs it before anything imports x509
import { untilSignal } from "../lib/cli/index.ts";
import { createLogger } from "../lib/log/index.ts";
import { UpdateAgent, HttpSource, streamsProbe, firmwareCommandHandlers, type InstallStep, type UpdateSource } from "./agent/index.ts";
import type { Slot } from "./slots.ts";

export interface ApplianceOptions {
  configFile: string;
  healthTimeoutMs?: number;
  pollMs?: number;
  /** Power-cut tests (tests/firmware-edge.test.ts): called at each install step / before each trial health probe. */
  hooks?: { onStep?: (step: InstallStep) => void | Promise<void>; beforeHealth?: () => void | Promise<void> };
}

export async function runAppliance(o: ApplianceOptions): Promise<number> {
  const log = createLogger("firmware");
  const { loadEdgeConfig } = await import("../edge/config.ts");
  const { startEdge } = await import("../edge/main.ts");
  const config = await loadEdgeConfig(o.configFile);
  const slot = (process.env.OPFW_SLOT ?? "") as Slot;
  if (slot !== "a" && slot !== "b") throw new Error("outpost firmware run is started by 'outpost firmware boot' (OPFW_SLOT is not set)");
  // Central's "_firmware-check" (commandNotifier over the uplink) reaches the agent, which exists
  // only after the edge does (its health probe reads edge.status): hence the late binding.
  let agent: UpdateAgent | undefined;
  // A stop asked for while the edge starts (it records before it has loaded everything) waits for it.
  const signalled = untilSignal();
  const edge = await startEdge(config, {
    commands: {
      "_firmware-check": async (args) => (agent ? firmwareCommandHandlers(agent)["_firmware-check"]!(args) : null),
    },
  });
  let source: UpdateSource = offline;
  try {
    const { loadIdentity, fetchTls } = await import("../edge/identity/index.ts");
    const id = await loadIdentity(config.dataDir);
    if (id) source = new HttpSource(id.federationUrl, fetchTls(id));
  } catch (e) {
    log.info("no federation identity; updates are off", { err: e as Error });
  }
  const probe = streamsProbe(() => edge.status());
  agent = new UpdateAgent({
    dataDir: config.dataDir,
    source,
    slot,
    trial: process.env.OPFW_TRIAL === "1",
    version: process.env.OPFW_VERSION ?? "0.0.0",
    health: async () => {
      await o.hooks?.beforeHealth?.();
      return probe();
    },
    healthTimeoutMs: o.healthTimeoutMs,
    pollMs: o.pollMs,
    onStep: o.hooks?.onStep,
    log,
    restart: async () => {
      await edge.stop();
      process.exit(75);
    },
  });
  agent.start();
  await signalled;
  agent.stop();
  await edge.stop();
  return 0;
}

const offline: UpdateSource = {
  offer: async () => null,
  root: async () => null,
  targets: async () => {
    throw new Error("offline");
  },
  chunks: async () => null,
  range: async () => {
    throw new Error("offline");
  },
  report: async () => {},
  reachable: async () => false,
};
