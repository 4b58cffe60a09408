/**
 * A/B slots in the data root (DATA/firmware/): slots/a and slots/b each hold one release's files
 * plus its signed targets.json; state.json says which slot is committed (`current`), which one
 * is on trial (`pending`) and how many times the trial slot has been booted (`tries`, the boot
 * counter). root.json is the update root this edge trusts, roots/ its history (trust.ts).
 * Every write is atomic.
 * Recordings and configuration live elsewhere in DATA and are never touched here.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { hashFile, readJsonFile, writeAtomic } from "./fsutil.ts";
import { parseTargets, UpdateError, verifyRole, type RootMeta, type TargetsMeta } from "./meta.ts";
import { advanceAnchor, checkOnChain, readTrustedRoot, slotRoot } from "./trust.ts";

export { readTrustedRoot } from "./trust.ts";

export type Slot = "a" | "b";
export const other = (s: Slot): Slot => (s === "a" ? "b" : "a");
export const RESTART_EXIT_CODE = 75;

export interface LastResult {
  version: string;
  outcome: "committed" | "rolled-back";
  reason?: string;
  at: string;
  campaignId: string | null;
  reported: boolean;
}

export interface SlotState {
  current: Slot;
  pending: Slot | null;
  /** Boots of the pending slot so far (the boot counter). */
  tries: number;
  maxTries: number;
  /** Highest targets metadata version ever accepted (rollback protection survives reinstall of a slot). */
  lastTargetsVersion: number;
  /** Whether central answered before the switch: the trial then requires it again. */
  centralWasReachable: boolean;
  campaignId: string | null;
  lastResult: LastResult | null;
}

export interface FirmwarePaths {
  dir: string;
  state: string;
  root: string;
  download: string;
  slot(s: Slot): string;
  staging(s: Slot): string;
}

export function firmwarePaths(dataDir: string): FirmwarePaths {
  const dir = path.join(dataDir, "firmware");
  return {
    dir,
    state: path.join(dir, "state.json"),
    root: path.join(dir, "root.json"),
    download: path.join(dir, "download"),
    slot: (s) => path.join(dir, "slots", s),
    staging: (s) => path.join(dir, "slots", `${s}.staging`),
  };
}

export async function readState(p: FirmwarePaths): Promise<SlotState> {
  const s = await readJsonFile<SlotState>(p.state);
  if (!s) throw new UpdateError("not-found", `no firmware state in ${p.state}: install a release first (outpost firmware install)`);
  return s;
}

export const writeState = (p: FirmwarePaths, s: SlotState) => writeAtomic(p.state, JSON.stringify(s, null, 2) + "\n");

/**
 * The "verified boot" check: the slot's targets.json is signed by the targets keys of the root
 * it was installed under — a root on the rotation chain through the trusted `anchor` (trust.ts;
 * a slot from before per-slot roots uses the anchor) — and every file has the signed length and
 * SHA-256. Expiry is not checked here: an installed release must keep booting after its
 * metadata expires (freeze protection is for installs).
 */
export async function verifySlot(p: FirmwarePaths, s: Slot, anchor: RootMeta): Promise<TargetsMeta> {
  const dir = p.slot(s);
  const raw = await readJsonFile<unknown>(path.join(dir, "targets.json"));
  if (!raw) throw new UpdateError("not-found", `slot ${s} has no targets.json`);
  const t = parseTargets(raw);
  const own = await slotRoot(p, s);
  if (own) await checkOnChain(p, anchor, own);
  await verifyRole(t, (own ?? anchor).signed, "targets", `slot ${s}`);
  for (const [name, want] of Object.entries(t.signed.files)) {
    let got;
    try {
      got = await hashFile(path.join(dir, name), want.length + 1);
    } catch {
      throw new UpdateError("not-found", `slot ${s}: ${name} is missing`);
    }
    if (got.length !== want.length) throw new UpdateError("length-mismatch", `slot ${s}: ${name} has ${got.length} bytes, ${want.length} signed`);
    if (got.sha256 !== want.sha256) throw new UpdateError("hash-mismatch", `slot ${s}: ${name} SHA-256 differs from the signed targets`);
  }
  return t;
}

/**
 * Mark-good: the trial slot becomes the committed one, and its root (if rotated) the trust
 * anchor — in that order; a power cut between the two is repaired at the next boot (chooseSlot).
 * Only the trial slot may call this.
 */
export async function commitPending(p: FirmwarePaths, slot: Slot, version: string, at: string): Promise<boolean> {
  const st = await readState(p);
  if (st.pending !== slot) return false;
  await writeState(p, { ...st, current: slot, pending: null, tries: 0, lastResult: { version, outcome: "committed", at, campaignId: st.campaignId, reported: false } });
  await advanceAnchor(p, slot);
  return true;
}

/** Give up the trial slot: the next boot runs `current` again. */
export async function rollbackPending(p: FirmwarePaths, reason: string, version: string, at: string): Promise<boolean> {
  const st = await readState(p);
  if (!st.pending) return false;
  await writeState(p, { ...st, pending: null, tries: 0, lastResult: { version, outcome: "rolled-back", reason, at, campaignId: st.campaignId, reported: false } });
  return true;
}

export async function slotVersion(p: FirmwarePaths, s: Slot): Promise<string | null> {
  const t = await readJsonFile<{ signed?: { release?: { version?: string } } }>(path.join(p.slot(s), "targets.json")).catch(() => null);
  return t?.signed?.release?.version ?? null;
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}
