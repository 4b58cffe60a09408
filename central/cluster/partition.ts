/**
 * Site → partition: FNV-1a (32 bit) over the site id's UTF-8 bytes, mod 256. Every node must
 * compute the same partition for a site, across versions too (a rolling upgrade runs two), so
 * this function never changes; partition.test.ts pins known values.
 */
export const PARTITIONS = 256;

const utf8 = new TextEncoder();

export function partitionOf(siteId: string): number {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(siteId)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % PARTITIONS;
}
