/**
 * firmware/agent/: the update agent that runs inside (or beside) the edge process of a slot.
 * Owns: taking offers from central, walking the root rotation chain, verifying targets
 * metadata, downloading (resumable, delta), installing into the inactive slot, switching,
 * asking the launcher to restart, and — when this process is a trial boot — the health check
 * that commits or rolls back. Must not touch recordings, configuration or edge internals: it
 * sees the recorder only through a HealthProbe.
 *
 * Install steps, each one crash-safe (kill -9 between any two leaves a bootable verified slot):
 *   download → verify → stage (unpack into slots/X.staging, fsync) → promote (rename to slots/X)
 *   → switch (state.json pending=X, atomic) → restart (exit 75; the launcher boots X on trial).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { systemClock, iso, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import { extractBundle } from "../bundle.ts";
import { hashFile, writeAtomic, syncDir } from "../fsutil.ts";
import { canonical, checkExpiry, parseRoot, UpdateError, verifyNextRoot, verifyRole, verifyTargets, type TargetsMeta } from "../meta.ts";
import { commitPending, firmwarePaths, other, readState, removeDir, rollbackPending, RESTART_EXIT_CODE, writeState, type Slot } from "../slots.ts";
import { readTrustedRoot, rememberRoot, SLOT_ROOT } from "../trust.ts";
import { downloadBundle } from "./download.ts";
import { waitHealthy, type HealthProbe } from "./health.ts";
import type { Offer, StatusReport, UpdateNotifier, UpdateSource } from "./source.ts";

export { HttpSource, FIRMWARE_FEDERATION_BASE, type UpdateSource, type Offer, type StatusReport, type UpdateNotifier, type SiteUpdateState } from "./source.ts";
export { waitHealthy, streamsProbe, allOf, type HealthProbe, type HealthResult, type EdgeStatusView } from "./health.ts";
export { downloadBundle, type DownloadResult } from "./download.ts";

export type InstallStep = "download" | "verify" | "stage" | "promote" | "switch" | "restart";

export interface AgentOptions {
  dataDir: string;
  source: UpdateSource;
  /** Slot this process runs from and whether it is a trial boot (the launcher's env). */
  slot: Slot;
  trial: boolean;
  version: string;
  /** Recorder health (streams recording); central reachability is added by the agent. */
  health: HealthProbe;
  healthTimeoutMs?: number;
  healthIntervalMs?: number;
  pollMs?: number;
  /** Link profile gate: download only when this says yes (e.g. depot WiFi). */
  allowed?: () => boolean | Promise<boolean>;
  notifier?: UpdateNotifier;
  /** Ask the launcher to start the other slot: default exits with code 75. */
  restart?: () => void | Promise<void>;
  /** Test hook: called when each install step begins. */
  onStep?: (step: InstallStep) => void | Promise<void>;
  clock?: Clock;
  log?: Logger;
}

export interface AgentStatus {
  slot: Slot;
  version: string;
  trial: boolean;
  busy: boolean;
  lastError: string | null;
  lastDownload: { bytesFetched: number; bytesSaved: number; delta: boolean } | null;
}

export class UpdateAgent {
  private readonly p;
  private readonly clock: Clock;
  private readonly log: Logger;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private unsubscribe: (() => void) | null = null;
  private busy = false;
  private stopped = false;
  private lastError: string | null = null;
  private lastDownload: AgentStatus["lastDownload"] = null;
  /** Offers that failed for a reason retrying cannot fix (signature, rollback, …). */
  private readonly refused = new Set<string>();
  trialResult: Promise<"committed" | "rolled-back" | "not-trial"> = Promise.resolve("not-trial");

  constructor(private readonly o: AgentOptions) {
    this.p = firmwarePaths(o.dataDir);
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? createLogger("firmware.agent");
  }

  status(): AgentStatus {
    return { slot: this.o.slot, version: this.o.version, trial: this.o.trial, busy: this.busy, lastError: this.lastError, lastDownload: this.lastDownload };
  }

  /** Runs the trial (if any) and then polls for offers until stop(). */
  start(): void {
    this.trialResult = this.o.trial ? this.runTrial() : Promise.resolve("not-trial");
    this.trialResult
      .then(() => {
        if (this.stopped) return;
        this.unsubscribe = this.o.notifier?.subscribe(() => void this.checkNow()) ?? null;
        this.schedule(0);
      })
      .catch((e) => this.log.error("trial failed", { err: e as Error }));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkNow().finally(() => this.schedule(this.o.pollMs ?? 60_000)), ms);
  }

  /** One round: flush an unreported result, take an offer, install it. */
  async checkNow(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      await this.flushResult();
      const offer = await this.o.source.offer();
      if (!offer || offer.version === this.o.version) return;
      const key = `${offer.campaignId}/${offer.version}`;
      if (this.refused.has(key)) return;
      if (this.o.allowed && !(await this.o.allowed())) return;
      try {
        await this.install(offer);
        this.lastError = null;
      } catch (e) {
        const err = e as Error;
        this.lastError = err.message;
        const permanent = err instanceof UpdateError && err.code !== "io";
        if (permanent) this.refused.add(key);
        this.log.warn("update failed", { version: offer.version, err, permanent });
        await this.report({ campaignId: offer.campaignId, version: offer.version, state: "failed", reason: err.message }).catch(() => {});
      }
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log.debug("update check failed", { err: e as Error });
    } finally {
      this.busy = false;
    }
  }

  private report(r: StatusReport): Promise<void> {
    return this.o.source.report({ ...r, running: this.o.version });
  }

  private async flushResult(): Promise<void> {
    const st = await readState(this.p);
    const r = st.lastResult;
    if (!r || r.reported) return;
    await this.report({ campaignId: r.campaignId, version: r.version, state: r.outcome === "committed" ? "healthy" : "rolled-back", reason: r.reason });
    const now = await readState(this.p);
    if (now.lastResult && canonical(now.lastResult) === canonical(r)) await writeState(this.p, { ...now, lastResult: { ...r, reported: true } });
  }

  /**
   * Walks root N → N+1 → … from the anchor as far as central has them (key rotation). The new
   * roots go to the history only: the anchor moves when a release signed under them commits.
   */
  private async updateRoot() {
    let trusted = await readTrustedRoot(this.p);
    for (let i = 0; i < 100; i++) {
      const raw = await this.o.source.root(trusted.signed.version + 1);
      if (!raw) break;
      trusted = await verifyNextRoot(trusted.signed, raw);
      await rememberRoot(this.p, trusted);
      this.log.info("update root rotation accepted (becomes the anchor when its release commits)", { version: trusted.signed.version });
    }
    checkExpiry(`root v${trusted.signed.version}`, trusted.signed.expires, this.clock.now());
    return trusted;
  }

  private async step(s: InstallStep): Promise<void> {
    await this.o.onStep?.(s);
  }

  async install(offer: Offer): Promise<void> {
    const st0 = await readState(this.p);
    if (st0.pending) throw new UpdateError("io", "a trial is in progress; not installing now");
    const root = await this.updateRoot();
    const targets: TargetsMeta = await verifyTargets(await this.o.source.targets(offer.version), {
      root: root.signed,
      now: this.clock.now(),
      lastTargetsVersion: st0.lastTargetsVersion,
      currentRelease: this.o.version,
    }, { forInstall: true });
    if (targets.signed.release.version !== offer.version) throw new UpdateError("bad-metadata", `offered ${offer.version} but the signed targets are for ${targets.signed.release.version}`);
    const centralWasReachable = await this.o.source.reachable();

    await this.step("download");
    let lastPct = -1;
    const current = st0.current;
    const localFiles = Object.keys((await this.slotTargets(current))?.signed.files ?? {}).map((n) => path.join(this.p.slot(current), n));
    const dl = await downloadBundle({
      source: this.o.source,
      version: offer.version,
      bundle: targets.signed.bundle,
      dir: this.p.download,
      localFiles,
      onProgress: ({ done, total }) => {
        const pct = Math.floor((done / total) * 100);
        if (pct >= lastPct + 10 || (pct === 100 && lastPct !== 100)) {
          lastPct = pct;
          void this.report({ campaignId: offer.campaignId, version: offer.version, state: "downloading", progress: pct }).catch(() => {});
        }
      },
    });
    this.lastDownload = { bytesFetched: dl.bytesFetched, bytesSaved: dl.bytesSaved, delta: dl.delta };
    this.log.info("bundle downloaded", { version: offer.version, ...this.lastDownload });

    await this.step("verify");
    // downloadBundle already matched the signed SHA-256; extraction re-checks every file.
    const target: Slot = other(current);
    await this.step("stage");
    const staging = this.p.staging(target);
    await removeDir(staging);
    await extractBundle(dl.file, staging, targets.signed);
    // The slot keeps the root that verified it: at boot it is checked against that root's chain.
    await writeAtomic(path.join(staging, SLOT_ROOT), JSON.stringify(root, null, 2) + "\n");
    await writeAtomic(path.join(staging, "targets.json"), JSON.stringify(targets, null, 2) + "\n");

    await this.step("promote");
    await removeDir(this.p.slot(target));
    await fs.rename(staging, this.p.slot(target));
    await syncDir(path.dirname(staging));

    await this.step("switch");
    const st = await readState(this.p);
    await writeState(this.p, { ...st, pending: target, tries: 0, lastTargetsVersion: targets.signed.version, centralWasReachable, campaignId: offer.campaignId });
    await fs.rm(dl.file, { force: true });
    await this.report({ campaignId: offer.campaignId, version: offer.version, state: "installed", bytesFetched: dl.bytesFetched, bytesSaved: dl.bytesSaved }).catch(() => {});

    await this.step("restart");
    this.log.info("switching to the new slot", { slot: target, version: offer.version });
    this.stop();
    await (this.o.restart ?? (() => process.exit(RESTART_EXIT_CODE)))();
  }

  private async slotTargets(s: Slot): Promise<TargetsMeta | null> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.p.slot(s), "targets.json"), "utf8")) as TargetsMeta;
    } catch {
      return null;
    }
  }

  private async runTrial(): Promise<"committed" | "rolled-back" | "not-trial"> {
    const st = await readState(this.p);
    if (st.pending !== this.o.slot) return "not-trial";
    const probe: HealthProbe = async () => {
      const r = await this.o.health();
      if (!r.ok) return r;
      if (st.centralWasReachable && !(await this.o.source.reachable())) return { ok: false, reason: "central was reachable before the update and is not now" };
      return { ok: true };
    };
    const r = await waitHealthy(probe, { timeoutMs: this.o.healthTimeoutMs ?? 60_000, intervalMs: this.o.healthIntervalMs ?? 500, clock: this.clock });
    if (r.ok) {
      await commitPending(this.p, this.o.slot, this.o.version, iso(this.clock.now()));
      this.log.info("trial healthy: committed", { slot: this.o.slot, version: this.o.version });
      await this.flushResult().catch((e) => this.log.warn("could not report the result yet", { err: e as Error }));
      return "committed";
    }
    this.log.warn("trial unhealthy: rolling back", { slot: this.o.slot, reason: r.reason });
    await rollbackPending(this.p, r.reason, this.o.version, iso(this.clock.now()));
    this.stop();
    await (this.o.restart ?? (() => process.exit(RESTART_EXIT_CODE)))();
    return "rolled-back";
  }
}

/** Factory provisioning: pin the root and install a verified release into slot a. */
export async function provision(o: { dataDir: string; root: unknown; bundleFile: string; targets: unknown; now: number; maxTries?: number }): Promise<{ version: string }> {
  const p = firmwarePaths(o.dataDir);
  const root = parseRoot(o.root);
  await verifyRole(root, root.signed, "root", "pinned root");
  const t = await verifyTargets(o.targets, { root: root.signed, now: o.now, lastTargetsVersion: 0, currentRelease: null }, { forInstall: true });
  const h = await hashFile(o.bundleFile, t.signed.bundle.length + 1);
  if (h.sha256 !== t.signed.bundle.sha256 || h.length !== t.signed.bundle.length) throw new UpdateError("hash-mismatch", "bundle does not match its signed targets");
  await fs.mkdir(path.join(p.dir, "slots"), { recursive: true, mode: 0o700 });
  await writeAtomic(p.root, JSON.stringify(root, null, 2) + "\n");
  await rememberRoot(p, root);
  const staging = p.staging("a");
  await removeDir(staging);
  await extractBundle(o.bundleFile, staging, t.signed);
  await writeAtomic(path.join(staging, SLOT_ROOT), JSON.stringify(root, null, 2) + "\n");
  await writeAtomic(path.join(staging, "targets.json"), JSON.stringify(t, null, 2) + "\n");
  await removeDir(p.slot("a"));
  await fs.rename(staging, p.slot("a"));
  await syncDir(path.join(p.dir, "slots"));
  await writeState(p, { current: "a", pending: null, tries: 0, maxTries: o.maxTries ?? 3, lastTargetsVersion: t.signed.version, centralWasReachable: false, campaignId: null, lastResult: null });
  return { version: t.signed.release.version };
}

/**
 * Command handlers for the edge uplink (edge/uplink `commands` dep): central's
 * commandNotifier sends "_firmware-check" when a campaign stage includes this site.
 */
export function firmwareCommandHandlers(agent: UpdateAgent): Record<string, (args: Record<string, unknown>) => Promise<unknown>> {
  return {
    "_firmware-check": async () => {
      void agent.checkNow();
      return null;
    },
  };
}
