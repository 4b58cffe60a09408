/**
 * Site → partition: FNV-1a (32 bit) over the site id's UTF-8 bytes, mod 256. Every node must
 * compute the same partition for a site, across versions too (a rolling upgrade runs two), so
 * this function never changes; leases.test.ts pins known values.
 */
export const PARTITIONS = 256;

const utf8 = new TextEncoder();

/**
 * Kept per site id: ownership is asked for every site every 2 s (presence flush) and for every
 * message, and hashing (with a byte array per call) was 14 % of a lightly loaded cluster node's
 * CPU at 4,000 sites. Bounded, in case ids come from outside (a message's topic).
 */
const known = new Map<string, number>();
const KEEP = 100_000;

export function partitionOf(siteId: string): number {
  const k = known.get(siteId);
  if (k !== undefined) return k;
  let h = 0x811c9dc5;
  for (const b of utf8.encode(siteId)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const p = h % PARTITIONS;
  if (known.size >= KEEP) known.clear();
  known.set(siteId, p);
  return p;
}
