/**
 * Which handlers a message on an MQTT topic goes to, for central's external-broker client
 * (bus.ts). A node of a cluster subscribes the `up` and `hello` topics of every site it owns —
 * thousands of exact filters — so testing each filter against each message (what mqtt.js leaves
 * to its user) made a message cost O(owned sites): at 1,000 sites per node that scan was the
 * largest part of a cluster node's CPU, and the reason a second node cost more per edge than
 * one node on the wildcard. Exact filters are found by the topic itself (one Map lookup);
 * only filters with `+` or `#` are tested one by one (a single node has two).
 */
export class TopicRouter<H> {
  private readonly exact = new Map<string, H[]>();
  private readonly wild: [string, H][] = [];

  add(filter: string, handler: H): void {
    if (isWildcard(filter)) return void this.wild.push([filter, handler]);
    const list = this.exact.get(filter);
    if (list) list.push(handler);
    else this.exact.set(filter, [handler]);
  }

  /** Removes every handler of exactly `filter`. */
  remove(filter: string): void {
    if (!isWildcard(filter)) return void this.exact.delete(filter);
    for (let i = this.wild.length - 1; i >= 0; i--) if (this.wild[i]![0] === filter) this.wild.splice(i, 1);
  }

  /** Every filter with a handler (one entry per handler, as subscribed). */
  filters(): string[] {
    const out: string[] = [];
    for (const [f, hs] of this.exact) for (let i = 0; i < hs.length; i++) out.push(f);
    for (const [f] of this.wild) out.push(f);
    return out;
  }

  get size(): number {
    let n = this.wild.length;
    for (const hs of this.exact.values()) n += hs.length;
    return n;
  }

  /** The handlers whose filter matches `topic`: exact ones first, then wildcards, each in the order added. */
  match(topic: string): H[] {
    const exact = this.exact.get(topic);
    if (!this.wild.length) return exact ?? [];
    const out = exact ? [...exact] : [];
    for (const [f, h] of this.wild) if (matches(f, topic)) out.push(h);
    return out;
  }
}

const isWildcard = (filter: string) => filter.includes("+") || filter.includes("#");

/** MQTT filter matching (`+` one level, `#` the rest). */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
