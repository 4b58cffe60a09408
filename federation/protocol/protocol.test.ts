import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { findBadText } from "../../lib/text.ts";
import { ConfigMessage, DesiredConfig, centralCameraId, dayDigests, digestDays, segmentDays, parseMessage, parseSiteTopic, parseUp, peekSeq, splitCentralCameraId, topics } from "./index.ts";

const env = { v: 1, ob: "0123456789ab", seq: 7, at: 1 };

describe("protocol", () => {
  test("topics live under the site's own subtree", () => {
    expect(topics.up("bus-1")).toBe("outpost/v1/sites/bus-1/up");
    expect(topics.config("bus-1")).toBe("outpost/v1/sites/bus-1/down/config");
    expect(parseSiteTopic("outpost/v1/sites/bus-1/up")).toEqual({ siteId: "bus-1", rest: "up" });
    expect(parseSiteTopic("other/bus-1/up")).toBeNull();
  });

  test("every message type parses; bodies are checked", () => {
    expect(parseUp(JSON.stringify({ ...env, type: "event", body: { eventId: "e", kind: "motion", atMs: 5 } })).ok).toBe(true);
    expect(parseUp(JSON.stringify({ ...env, type: "index", body: { cameraId: "c1", stream: "main", segments: [[1, 2, 3]], gaps: [[2, 3, "stall"]] } })).ok).toBe(true);
    const bad = parseUp(JSON.stringify({ ...env, type: "index", body: { cameraId: "c1", stream: "main", segments: [[1, 2]], gaps: [] } }));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toContain("body.segments");
    const gap = parseUp(JSON.stringify({ ...env, type: "index", body: { cameraId: "c1", stream: "main", segments: [], gaps: [[1, 2, "aliens"]] } }));
    expect(gap.ok).toBe(false);
    expect(parseUp(JSON.stringify({ ...env, type: "teleport", body: {} })).ok).toBe(false);
  });

  test("unknown versions and garbage are refused with a reason, never thrown", () => {
    const v2 = parseUp(JSON.stringify({ ...env, v: 2, type: "event", body: {} }));
    expect(v2).toEqual({ ok: false, reason: "unsupported protocol version 2 (this side speaks v1)" });
    expect(parseUp("{not json")).toEqual({ ok: false, reason: "not JSON" });
    expect(parseUp("42")).toEqual({ ok: false, reason: "not a JSON object" });
    expect(parseMessage(ConfigMessage, JSON.stringify({ version: 3 }))).toMatchObject({ ok: false });
    expect(peekSeq(JSON.stringify({ v: 9, ob: "0123456789ab", seq: 4 }))).toEqual({ ob: "0123456789ab", seq: 4 });
    expect(peekSeq("nope")).toBeNull();
  });

  test("control characters anywhere in a message are refused with the field named", () => {
    const lock = parseUp(JSON.stringify({ ...env, type: "locks", body: { cameraId: "c1", locks: [{ id: "l1", startMs: 1, endMs: 2, reason: "case\u0000 7" }] } }));
    expect(lock).toEqual({ ok: false, reason: expect.stringContaining("body.locks.0.reason: contains the control character U+0000") });
    const data = parseUp(JSON.stringify({ ...env, type: "event", body: { eventId: "e", kind: "motion", atMs: 5, data: { note: "\u001b[2J" } } }));
    expect(!data.ok && data.reason).toContain("body.data.note");
    expect(parseUp(JSON.stringify({ ...env, type: "locks", body: { cameraId: "c1", locks: [{ id: "l1", startMs: 1, endMs: 2, reason: "line 1\nline 2" }] } })).ok).toBe(true);
  });

  test("property: any JSON is accepted or refused with a reason, never thrown; what is accepted obeys the text rule and fits BIGINT", () => {
    const types = ["event", "index", "locks", "digest", "tree", "health", "config-status", "command-result", "telemetry", "dropped", "teleport"];
    const anyBody = fc.oneof(fc.jsonValue(), fc.object({ values: [fc.string({ unit: "binary" }), fc.integer(), fc.double(), fc.constant(1e20), fc.boolean(), fc.constant(null)] }));
    fc.assert(
      fc.property(fc.constantFrom(...types), anyBody, fc.oneof(fc.nat(), fc.double(), fc.constant(2 ** 63)), (type, body, at) => {
        const r = parseUp(JSON.stringify({ ...env, at, type, body }));
        if (!r.ok) return expect(r.reason.length).toBeGreaterThan(0);
        expect(findBadText(r.msg)).toBeNull();
        expect(Number.isSafeInteger(r.msg.at)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  test("desired config is strict: unknown keys are a rejection", () => {
    expect(DesiredConfig.safeParse({ retention: { maxAgeHours: 24 }, cameras: { c1: { recording: ["on-event", "scheduled"] } } }).success).toBe(true);
    expect(DesiredConfig.safeParse({ retention: { maxAgeHourz: 24 } }).success).toBe(false);
    expect(DesiredConfig.safeParse({ recording: ["sometimes"] }).success).toBe(false);
  });

  test("day digests: same content same hash, order-independent; any change differs", () => {
    const day = 86_400_000;
    const a = dayDigests([[day + 1, day + 2, 10], [day + 5, day + 6, 10]], [[day + 2, day + 5, "stall"]]);
    const b = dayDigests([[day + 5, day + 6, 10], [day + 1, day + 2, 10]], [[day + 2, day + 5, "stall"]]);
    expect(a).toEqual(b);
    expect(a[0]![0]).toBe(day);
    expect(a[0]![1]).toBe(3);
    expect(dayDigests([[day + 1, day + 2, 11], [day + 5, day + 6, 10]], [[day + 2, day + 5, "stall"]])[0]![2]).not.toBe(a[0]![2]);
  });

  test("day digests are those of every line sorted per day (random segments and gaps, many days)", () => {
    // The form before lines were made one day at a time: what central compares with.
    const reference = (segs: [number, number, number][], gaps: [number, number, string][]) => {
      const days = new Map<number, string[]>();
      const add = (start: number, line: string) => {
        const d = Math.floor(start / 86_400_000) * 86_400_000;
        days.set(d, [...(days.get(d) ?? []), line]);
      };
      for (const [s, e, b] of segs) add(s, `s${s},${e},${b}`);
      for (const [s, e, r] of gaps) add(s, `g${s},${e},${r}`);
      return [...days.entries()].sort((a, b) => a[0] - b[0]).map(([d, lines]) => [d, lines.length, createHash("sha256").update(lines.sort().join("\n")).digest("hex").slice(0, 16)]);
    };
    const t = fc.integer({ min: 0, max: 40 * 86_400_000 });
    fc.assert(
      fc.property(fc.array(fc.tuple(t, t, fc.integer({ min: 0, max: 2 ** 40 }))), fc.array(fc.tuple(t, t, fc.constantFrom("stall", "camera-offline", "crash"))), (segs, gaps) => {
        expect(dayDigests(segs, gaps)).toEqual(reference(segs, gaps) as never);
        // The edge's index gives days without gaps hashed, days with gaps as lines: the same digests.
        const gapDays = new Set(gaps.map(([s]) => Math.floor(s / 86_400_000) * 86_400_000));
        const mixed = segmentDays(segs).map((d) => (gapDays.has(d.day) ? d : { day: d.day, count: d.count, hash: createHash("sha256").update(d.lines!).digest("hex").slice(0, 16) }));
        expect(digestDays(mixed, gaps)).toEqual(reference(segs, gaps) as never);
      }),
      { numRuns: 200 },
    );
  });

  test("central camera ids", () => {
    expect(centralCameraId("bus-1", "cam_2")).toBe("bus-1.cam_2");
    expect(splitCentralCameraId("bus-1.cam_2")).toEqual({ siteId: "bus-1", cameraId: "cam_2" });
    expect(splitCentralCameraId("nodot")).toBeNull();
  });
});

test("track chunks: empty, unordered, too long, or a fix without coordinates are refused with a reason (never a throw)", async () => {
  const { parseUp } = await import("./messages.ts");
  const up = (points: unknown) => parseUp(JSON.stringify({ v: 1, ob: "abcdefgh12", seq: 1, at: 1, type: "track", body: { points } }));
  expect(up([]).ok).toBe(false);
  expect(up([[2, 3, 47, 8, 1, 90], [1, 3, 47, 8, 1, 90]])).toEqual({ ok: false, reason: "body: points must be in strictly increasing time order" });
  expect(up([[1, 3, 47, 8, 1, 90], [700_001, 3, 47, 8, 1, 90]])).toEqual({ ok: false, reason: "body: a chunk spans at most 10 minutes" });
  expect(up([[1, 3, null, null, null, null]]).ok).toBe(false);
  expect(up([[1, 1, null, null, null, null], [2, 3, 47.1, 8.2, 12.5, 359.9]]).ok).toBe(true);
});
