/**
 * The on-disk truth besides segment files: the gap journal (one append-only JSON-lines file
 * per stream) and evidence locks (one JSON file each). The index copies both; rebuild reads
 * them back from here.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { EvidenceLock, GapReason, GapRecord, StreamKind } from "./types.ts";
import { GAPS_DIR, LOCKS_DIR, appendDurable, gapsRelPath, isCameraId, lockRelPath, parseGapsFile, unlinkDurable, writeFileDurable } from "./layout.ts";
import { StoreInputError } from "./errors.ts";
import { isAtomicTmp } from "../fsutil.ts";

/** A gap whose end is not known yet (recording has not resumed). */
export interface JournalGap extends Omit<GapRecord, "endMs"> {
  endMs: number | null;
}

const REASONS = new Set<GapReason>(["camera-offline", "stall", "restart", "disk-full", "disk-slow", "clock-step", "resync", "crash", "auth-failed", "unsupported-codec", "stopped", "retention"]);

export function streamKey(cameraId: string, stream: StreamKind): string {
  return `${cameraId}\u0000${stream}`;
}

/** Each record starts with a newline so a torn previous line can never swallow it. */
export async function appendGap(root: string, g: JournalGap): Promise<void> {
  const rec: Record<string, unknown> = { startMs: g.startMs, endMs: g.endMs, reason: g.reason };
  if (g.detail) rec.detail = g.detail;
  await appendDurable(join(root, gapsRelPath(g.cameraId, g.stream)), "\n" + JSON.stringify(rec));
}

/** All gaps from all journals (or those of `cameras`); for one start time the last record wins (an open gap later closed). */
export async function readGaps(root: string, cameras?: (cameraId: string) => boolean): Promise<JournalGap[]> {
  let names: string[];
  try {
    names = await readdir(join(root, GAPS_DIR));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return [];
    throw e;
  }
  const out: JournalGap[] = [];
  for (const name of names.sort()) {
    const who = parseGapsFile(name);
    if (!who || (cameras && !cameras(who.cameraId))) continue;
    const byStart = new Map<number, JournalGap>();
    const text = await readFile(join(root, GAPS_DIR, name), "utf8");
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      let r: { startMs?: unknown; endMs?: unknown; reason?: unknown; detail?: unknown };
      try {
        r = JSON.parse(line);
      } catch {
        continue; // torn line from a crash mid-append
      }
      if (typeof r.startMs !== "number" || !REASONS.has(r.reason as GapReason)) continue;
      const endMs = typeof r.endMs === "number" ? r.endMs : null;
      const g: JournalGap = { ...who, startMs: r.startMs, endMs, reason: r.reason as GapReason };
      if (typeof r.detail === "string") g.detail = r.detail;
      byStart.set(r.startMs, g);
    }
    for (const g of [...byStart.values()].sort((a, b) => a.startMs - b.startMs)) {
      if (g.endMs !== null && g.endMs <= g.startMs) continue; // closed at once: recording resumed where it stopped
      out.push(g);
    }
  }
  return out;
}

const LOCK_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkLockId(id: unknown): string {
  if (typeof id !== "string" || !LOCK_ID.test(id)) throw new StoreInputError(`invalid lock id ${JSON.stringify(id)}: use 1-64 letters, digits, '_' or '-'`);
  return id;
}

export async function writeLock(root: string, l: EvidenceLock): Promise<void> {
  await writeFileDurable(join(root, lockRelPath(l.id)), JSON.stringify(l) + "\n");
}

export async function removeLock(root: string, id: string): Promise<boolean> {
  return unlinkDurable(join(root, lockRelPath(id)));
}

export function parseLock(text: string): EvidenceLock | null {
  let r: Partial<EvidenceLock>;
  try {
    r = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof r.id !== "string" || !LOCK_ID.test(r.id) || !isCameraId(r.cameraId)) return null;
  if (typeof r.startMs !== "number" || typeof r.endMs !== "number" || typeof r.createdAtMs !== "number") return null;
  const l: EvidenceLock = {
    id: r.id,
    cameraId: r.cameraId,
    startMs: r.startMs,
    endMs: r.endMs,
    reason: String(r.reason ?? ""),
    createdBy: String(r.createdBy ?? ""),
    createdAtMs: r.createdAtMs,
  };
  if (typeof r.expiresAtMs === "number") l.expiresAtMs = r.expiresAtMs;
  return l;
}

/** Locks on disk, plus names of files that could not be read (reported, never deleted: they may be evidence). */
export async function readLocks(root: string): Promise<{ locks: EvidenceLock[]; bad: string[]; tmp: string[] }> {
  let names: string[];
  try {
    names = await readdir(join(root, LOCKS_DIR));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return { locks: [], bad: [], tmp: [] };
    throw e;
  }
  const locks: EvidenceLock[] = [];
  const bad: string[] = [];
  const tmp: string[] = [];
  for (const name of names.sort()) {
    if (isAtomicTmp(name)) {
      tmp.push(`${LOCKS_DIR}/${name}`);
      continue;
    }
    if (!name.endsWith(".json")) continue;
    const l = parseLock(await readFile(join(root, LOCKS_DIR, name), "utf8"));
    if (l && `${l.id}.json` === name) locks.push(l);
    else bad.push(`${LOCKS_DIR}/${name}`);
  }
  return { locks, bad, tmp };
}
