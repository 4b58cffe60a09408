/**
 * Starting a process's parts while holding its data directory (central's composeCentral, the
 * edge's startEdge): the lock is taken before `start` opens anything, given back if `start`
 * fails, and otherwise when what it made is stopped (its `stopKey` method, wrapped).
 */
import { mkdirPrivate } from "../fsutil.ts";
import { lockDataDir } from "./data-dir.ts";

export async function startHoldingDataDir<K extends string, T extends Record<K, () => Promise<void>>>(dir: string, by: string, stopKey: K, start: () => Promise<T>): Promise<T> {
  await mkdirPrivate(dir);
  const lock = lockDataDir(dir, by);
  try {
    const made = await start();
    const stop = made[stopKey];
    made[stopKey] = (async () => {
      try {
        await stop.call(made);
      } finally {
        lock.release();
      }
    }) as T[K];
    return made;
  } catch (e) {
    lock.release();
    throw e;
  }
}
