import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { matches, TopicRouter } from "./topic-router.ts";

// Topics and filters over a tiny alphabet, so filters and topics often meet.
const level = fc.constantFrom("a", "b", "outpost", "v1", "up", "hello", "");
const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join("/"));
const filter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant("+")), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([l, hash]) => (hash ? [...l, "#"] : l).join("/"));

describe("TopicRouter", () => {
  test("delivers to exactly the handlers whose filter matches, as testing every filter would (property)", () => {
    fc.assert(
      fc.property(fc.array(filter, { maxLength: 30 }), fc.array(fc.nat(29), { maxLength: 10 }), topic, (filters, removed, t) => {
        const r = new TopicRouter<number>();
        filters.forEach((f, i) => r.add(f, i));
        const gone = new Set(removed.filter((i) => i < filters.length).map((i) => filters[i]!));
        for (const f of gone) r.remove(f);
        const want = filters.map((f, i) => [f, i] as const).filter(([f]) => !gone.has(f) && matches(f, t)).map(([, i]) => i);
        expect(r.match(t).sort((a, b) => a - b)).toEqual(want);
        expect(r.size).toBe(filters.filter((f) => !gone.has(f)).length);
        expect(r.filters().sort()).toEqual(filters.filter((f) => !gone.has(f)).sort());
      }),
    );
  });

  test("a cluster node's per-site filters: one site's message reaches that site's handler only", () => {
    const r = new TopicRouter<string>();
    for (let i = 0; i < 5000; i++) {
      r.add(`outpost/v1/sites/s${i}/up`, `up ${i}`);
      r.add(`outpost/v1/sites/s${i}/hello`, `hello ${i}`);
    }
    expect(r.match("outpost/v1/sites/s4321/up")).toEqual(["up 4321"]);
    r.add("outpost/v1/sites/+/up", "all up");
    expect(r.match("outpost/v1/sites/s7/up")).toEqual(["up 7", "all up"]);
    r.remove("outpost/v1/sites/s7/up");
    expect(r.match("outpost/v1/sites/s7/up")).toEqual(["all up"]);
    expect(r.match("outpost/v1/sites/s7/down")).toEqual([]);
  });
});
