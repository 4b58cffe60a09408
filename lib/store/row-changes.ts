/**
 * What turns the rows an index table holds into the rows it should hold: the keys to delete
 * and the rows to write. Start-up recovery replaces the gaps and locks tables from the journals
 * and lock files; writing only the difference keeps that to a few rows after a crash instead
 * of the store's whole gap history (every row a statement and a WAL record at each start).
 */
export function rowChanges<T>(have: readonly T[], want: readonly T[], key: (r: T) => string, same: (a: T, b: T) => boolean): { remove: T[]; put: T[] } {
  const wanted = new Map<string, T>();
  for (const r of want) wanted.set(key(r), r); // the last of one key wins, as INSERT OR REPLACE did
  const held = new Map<string, T>();
  for (const r of have) held.set(key(r), r);
  const remove = [...held].filter(([k]) => !wanted.has(k)).map(([, r]) => r);
  const put = [...wanted].filter(([k, r]) => !held.has(k) || !same(held.get(k)!, r)).map(([, r]) => r);
  return { remove, put };
}
