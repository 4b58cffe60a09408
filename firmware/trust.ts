/**
 * The update roots an edge trusts, across key rotations.
 *
 * - `root.json` is the trust anchor: the root of the committed release. Installs walk the
 *   rotation chain forward from it; it advances only when a release signed under a newer root
 *   commits (mark-good), so an interrupted install or a failed trial never strands the
 *   committed slot behind a root that no longer lists its signing key.
 * - `roots/N.json` keeps every root of the chain this edge has accepted (the history). Roots
 *   fetched for an install land here, not in the anchor.
 * - Each slot keeps the root that verified its release (`slots/X/root.json`); at boot the slot
 *   is checked against that root, after proving that root is on the chain through the anchor:
 *   forward (anchor → … → it, each signed by its predecessor, TUF §5.3) for a trial slot newer
 *   than the anchor, backward (it → … → anchor) for a committed slot older than the anchor.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { readJsonFile, writeAtomic } from "./fsutil.ts";
import { canonical, parseRoot, UpdateError, verifyNextRoot, type RootMeta } from "./meta.ts";
import type { FirmwarePaths, Slot } from "./slots.ts";

export const SLOT_ROOT = "root.json";
const historyFile = (p: FirmwarePaths, version: number) => path.join(p.dir, "roots", `${version}.json`);

export async function readTrustedRoot(p: FirmwarePaths): Promise<RootMeta> {
  const r = await readJsonFile<unknown>(p.root);
  if (!r) throw new UpdateError("not-found", `no pinned update root in ${p.root}`);
  return parseRoot(r);
}

/** Adds a root (already verified against its predecessor) to the history. */
export async function rememberRoot(p: FirmwarePaths, r: RootMeta): Promise<void> {
  await fs.mkdir(path.join(p.dir, "roots"), { recursive: true, mode: 0o700 });
  await writeAtomic(historyFile(p, r.signed.version), JSON.stringify(r, null, 2) + "\n");
}

async function historyRoot(p: FirmwarePaths, version: number): Promise<RootMeta> {
  const raw = await readJsonFile<unknown>(historyFile(p, version));
  if (!raw) throw new UpdateError("not-found", `root v${version} is missing from the root history (${historyFile(p, version)})`);
  return parseRoot(raw);
}

/** Proves `r` is on the rotation chain through the trusted `anchor`; throws otherwise. */
export async function checkOnChain(p: FirmwarePaths, anchor: RootMeta, r: RootMeta): Promise<void> {
  const a = anchor.signed.version;
  const v = r.signed.version;
  if (v === a) {
    if (canonical(r.signed) !== canonical(anchor.signed)) throw new UpdateError("bad-metadata", `root v${v} differs from the trusted root v${a}`);
    return;
  }
  const [from, to] = v > a ? [anchor, r] : [r, anchor];
  let cur = from.signed;
  for (let n = cur.version + 1; n < to.signed.version; n++) cur = (await verifyNextRoot(cur, await historyRoot(p, n))).signed;
  await verifyNextRoot(cur, to);
}

/** The root a slot was installed under (null for a slot installed before roots were kept per slot). */
export async function slotRoot(p: FirmwarePaths, s: Slot): Promise<RootMeta | null> {
  const raw = await readJsonFile<unknown>(path.join(p.slot(s), SLOT_ROOT));
  return raw ? parseRoot(raw) : null;
}

/**
 * Makes the committed slot's root the anchor if it is newer (mark-good of a release signed
 * under a rotated root; also repairs a power cut between the commit and this write).
 */
export async function advanceAnchor(p: FirmwarePaths, committed: Slot): Promise<boolean> {
  const r = await slotRoot(p, committed);
  if (!r) return false;
  const anchor = await readTrustedRoot(p);
  if (r.signed.version <= anchor.signed.version) return false;
  await checkOnChain(p, anchor, r);
  await writeAtomic(p.root, JSON.stringify(r, null, 2) + "\n");
  return true;
}
