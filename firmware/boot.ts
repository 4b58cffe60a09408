/**
 * The launcher ("bootloader") of the appliance: picks the slot per state.json, counts trial
 * boots, rolls back when the trial slot has used up its boots or fails verification, verifies
 * the chosen slot (signature + hashes) before running it, and supervises it: exit code 75
 * means "restart me" (the agent switched or rolled back), a trial that does not mark itself
 * good within `trialTimeoutMs` is killed and counts as a failed boot.
 *
 * It is installed once (factory image, outside the slots) and never updated by a campaign, like
 * a bootloader in ROM; on real hardware its role is U-Boot/GRUB bootcount + the A/B partition
 * flags (docs/design/firmware.md).
 */
import { withEdgeProcessEnv } from "../edge/process-env.ts";
import path from "node:path";
import { systemClock, iso, type Clock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log/index.ts";
import { firmwarePaths, other, readState, readTrustedRoot, RESTART_EXIT_CODE, slotVersion, verifySlot, writeState, type Slot } from "./slots.ts";
import { UpdateError } from "./meta.ts";
import { advanceAnchor } from "./trust.ts";

export interface BootChoice {
  slot: Slot;
  trial: boolean;
  version: string;
  dir: string;
}

/** Decides (and persists) which slot boots now. Throws only when no slot verifies. */
export async function chooseSlot(dataDir: string, o: { clock?: Clock; log?: Logger } = {}): Promise<BootChoice> {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("firmware.boot");
  const p = firmwarePaths(dataDir);
  const root = await readTrustedRoot(p);
  let st = await readState(p);
  if (st.pending) {
    const pend = st.pending;
    let reason: string | null = null;
    if (st.tries >= st.maxTries) reason = `slot ${pend} did not become healthy in ${st.tries} boot(s)`;
    let version = "unknown";
    if (!reason) {
      try {
        version = (await verifySlot(p, pend, root)).signed.release.version;
      } catch (e) {
        reason = `slot ${pend} failed verification: ${(e as Error).message}`;
      }
    }
    if (!reason) {
      st = { ...st, tries: st.tries + 1 };
      // The counter is on disk before the trial runs: a crash or power cut during the trial counts.
      await writeState(p, st);
      log.info("booting trial slot", { slot: pend, version, boot: st.tries, of: st.maxTries });
      return { slot: pend, trial: true, version, dir: p.slot(pend) };
    }
    log.warn("rolling back", { slot: pend, reason });
    const slotVer = (await slotVersion(p, pend)) ?? version;
    st = { ...st, pending: null, tries: 0, lastResult: { version: slotVer, outcome: "rolled-back", reason, at: iso(clock.now()), campaignId: st.campaignId, reported: false } };
    await writeState(p, st);
  }
  for (const s of [st.current, other(st.current)]) {
    try {
      const t = await verifySlot(p, s, root);
      if (s !== st.current) {
        log.error("committed slot failed verification; booting the other verified slot", { bad: st.current, slot: s });
        await writeState(p, { ...st, current: s });
      }
      // A power cut right after mark-good: the committed release's root becomes the anchor now.
      if (await advanceAnchor(p, s)) log.info("update root anchor advanced to the committed release's root", { slot: s });
      return { slot: s, trial: false, version: t.signed.release.version, dir: p.slot(s) };
    } catch (e) {
      log.error("slot failed verification", { slot: s, err: e as Error });
    }
  }
  throw new UpdateError("not-found", "no slot verifies: the appliance needs re-provisioning");
}

export interface BootOptions {
  dataDir: string;
  /** Arguments for the slot's `run` entry, e.g. ["firmware", "run", "--config", FILE]. */
  args: string[];
  trialTimeoutMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Resolve to stop the supervisor (signal). */
  stop?: Promise<unknown>;
  /** Called with each child (tests: which pid to kill -9). */
  onChild?: (c: { pid: number; choice: BootChoice }) => void;
}

/** Supervises slot children until `stop` resolves. Returns the last child's exit code. */
export async function runBoot(o: BootOptions): Promise<number> {
  const log = o.log ?? createLogger("firmware.boot");
  const p = firmwarePaths(o.dataDir);
  let stopping = false;
  let child: ReturnType<typeof Bun.spawn> | null = null;
  o.stop?.then(() => {
    stopping = true;
    child?.kill("SIGTERM");
  });
  let code = 0;
  let backoff = 200;
  while (!stopping) {
    const choice = await chooseSlot(o.dataDir, { clock: o.clock, log });
    const proc = Bun.spawn([path.join(choice.dir, "run"), ...o.args], {
      // The slot runs the edge recorder: its allocator settings apply from process start (edge/process-env.ts).
      env: { ...withEdgeProcessEnv(), OPFW_DATA: o.dataDir, OPFW_SLOT: choice.slot, OPFW_TRIAL: choice.trial ? "1" : "0", OPFW_VERSION: choice.version },
      stdio: ["ignore", "inherit", "inherit"],
    });
    child = proc;
    o.onChild?.({ pid: proc.pid, choice });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (choice.trial) {
      const limit = o.trialTimeoutMs ?? 120_000;
      timer = setTimeout(async () => {
        const st = await readState(p).catch(() => null);
        if (st?.pending === choice.slot) {
          log.warn("trial slot did not mark itself good in time; restarting", { slot: choice.slot, limitMs: limit });
          proc.kill("SIGKILL");
        }
      }, limit);
    }
    code = await proc.exited;
    clearTimeout(timer);
    child = null;
    if (stopping) break;
    if (code === RESTART_EXIT_CODE) {
      backoff = 200;
      continue;
    }
    log.warn("slot exited; restarting", { slot: choice.slot, code, trial: choice.trial });
    await Bun.sleep(backoff);
    backoff = Math.min(backoff * 2, 10_000);
  }
  return code;
}
