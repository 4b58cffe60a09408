import { describe, expect, test } from "bun:test";
import { describeAt, drawMarkers, markerAt, type Marker } from "./timeline-draw.ts";

/** Records what is drawn: fill colour and rectangle / path per call. */
function fakeCtx() {
  const ops: { op: string; color: string; x?: number }[] = [];
  const ctx = {
    fillStyle: "",
    fillRect(x: number) {
      ops.push({ op: "rect", color: this.fillStyle, x });
    },
    beginPath() {},
    moveTo() {},
    lineTo() {},
    closePath() {},
    fill() {
      ops.push({ op: "tri", color: this.fillStyle });
    },
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, ops };
}

const view = { fromMs: 0, toMs: 1000 };

describe("timeline markers", () => {
  test("events are ticks, alarms triangles in their colour, drawn after (on top of) events; outside the view nothing", () => {
    const { ctx, ops } = fakeCtx();
    const ms: Marker[] = [
      { atMs: 500, kind: "alarm", label: "P1 x", color: "#e5484d" },
      { atMs: 100, kind: "event", label: "motion" },
      { atMs: 5000, kind: "event", label: "later" },
    ];
    expect(drawMarkers(ctx, 100, view, ms, 20, 40)).toBe(2);
    expect(ops.map((o) => o.op)).toEqual(["rect", "rect", "tri"]);
    expect(ops[0]).toMatchObject({ x: 10 });
    expect(ops[1]).toMatchObject({ color: "#e5484d", x: 50 });
    expect(ops[2]!.color).toBe("#e5484d");
  });

  test("at most one marker of a kind per pixel column (a month of motion stays cheap)", () => {
    const { ctx } = fakeCtx();
    const many: Marker[] = Array.from({ length: 10_000 }, (_, i) => ({ atMs: i / 10, kind: "event", label: "motion" }));
    expect(drawMarkers(ctx, 100, view, many, 20, 40)).toBe(100);
  });

  test("markerAt: the nearest within the tolerance, alarms win a tie; none too far away", () => {
    const ms: Marker[] = [
      { atMs: 100, kind: "event", label: "e" },
      { atMs: 100, kind: "alarm", label: "a" },
      { atMs: 300, kind: "event", label: "f" },
    ];
    expect(markerAt(ms, 104, 10)?.label).toBe("a");
    expect(markerAt(ms, 296, 10)?.label).toBe("f");
    expect(markerAt(ms, 200, 10)).toBeNull();
  });
});

describe("held quality", () => {
  test("a range central holds only as the sub stream says so under the pointer", () => {
    const tl = { ranges: [{ startMs: 0, endMs: 1000, held: "edge" as const }], gaps: [], retrievals: [], subOnly: [{ startMs: 0, endMs: 400 }] };
    expect(describeAt(tl, 200)).toBe("edge only · central holds the sub stream only");
    expect(describeAt(tl, 600)).toBe("edge only");
  });
});
