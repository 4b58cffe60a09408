/**
 * The edge's upload sender against a stand-in for central's federation routes (plain HTTP):
 * central's 503 with Retry-After (its database, its disk, or the node shutting down) holds every
 * upload until the time asked for, measured on the edge's clock (injected here); an invalid
 * Retry-After leaves the usual retry at the next work poll. A work poll answered 503/429 with
 * Retry-After is not repeated before that time, however often the poll loop is woken.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore, type SegmentRecord } from "../../lib/store/index.ts";
import { feed, makeMedia } from "../../lib/store/testdata/media.ts";
import { H, TRANSFER_VERSION, paths, type WorkItem } from "../../federation/transfer/index.ts";
import { EdgeTransfer } from "./engine.ts";

const log = new Logger({ component: "t", sink: new MemorySink(), level: "error" });
const T0 = 1_764_800_000_000;
let tmp = "";
let store: MediaStore;
let segs: SegmentRecord[] = [];

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-edge-transfer-"));
  const clock = new ManualClock(T0);
  store = await MediaStore.open({ root: path.join(tmp, "edge"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  const media = await makeMedia(tmp, 6);
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 20);
  segs = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open).slice(0, 2);
  expect(segs.length).toBe(2);
});

afterAll(async () => {
  await store?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

type Answer = { status: number; headers?: Record<string, string>; body?: unknown };

/**
 * Central as the sender sees it: both segments wanted until committed; each PUT is answered by
 * `answer` (its number from 0), by default committed; each work poll by `pollAnswer`, by default
 * the work. `polls` counts work polls. The edge's own poll backoff is 1 ms: a retry that ignores
 * a Retry-After comes at once.
 */
async function centralStandIn(answer: (n: number) => Answer | null, pollAnswer: (n: number) => Answer | null = () => null) {
  const committed = new Set<number>();
  const puts: number[] = [];
  let polls = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      const url = new URL(req.url);
      if (req.method === "POST" && url.pathname === paths.work) {
        const refused = pollAnswer(polls++);
        if (refused) return Response.json(refused.body ?? { title: "Service unavailable" }, { status: refused.status, headers: refused.headers ?? {} });
        const items: WorkItem[] = segs
          .filter((s) => !committed.has(s.startMs))
          .map((s) => ({ cameraId: "cam1", stream: "main", startMs: s.startMs, bytes: s.bytes, offset: 0, cls: "scheduled", links: null, deadlineMs: null }));
        return Response.json({ v: TRANSFER_VERSION, items, release: [], chunkSize: 65536 });
      }
      if (req.method === "PUT") {
        await req.arrayBuffer();
        const startMs = Number(url.pathname.split("/").pop());
        const a = answer(puts.length);
        puts.push(startMs);
        if (a) return Response.json(a.body ?? { offset: 0, committed: false, error: "central could not store the segment now" }, { status: a.status, headers: a.headers ?? {} });
        committed.add(startMs);
        return Response.json({ offset: Number(req.headers.get(H.bytes)), committed: true });
      }
      // Where an upload stands (the sender asks after one that broke off without an answer it could read).
      if (req.method === "GET") return Response.json({ offset: 0, committed: committed.has(Number(url.pathname.split("/").pop())) });
      return new Response("not here", { status: 404 });
    },
  });
  const clock = new ManualClock(T0);
  const sink = new MemorySink();
  const edgeLog = new Logger({ component: "t", sink, level: "info" });
  const edge = new EdgeTransfer({ dataDir: path.join(tmp, `edge-data-${server.port}`), store, federationUrl: `http://127.0.0.1:${server.port}`, tls: { ca: "", cert: "", key: "" }, policy: () => null, link: "wifi", clock, log: edgeLog, workers: 1, pollWaitMs: 1000, refreshMs: 20, backoff: { minMs: 1, maxMs: 1 } });
  /** Resolves once central has been polled `n` more times. */
  const morePolls = async (n: number) => {
    const until = polls + n;
    while (polls < until) await Bun.sleep(10);
  };
  const waitFor = async (cond: () => boolean) => {
    while (!cond()) await Bun.sleep(10);
  };
  return {
    edge,
    clock,
    puts,
    committed,
    polls: () => polls,
    /** The edge logged `msg` (info or above). */
    logged: (msg: string) => sink.records.some((r) => r.msg === msg),
    morePolls,
    waitFor,
    close: async () => {
      await edge.stop();
      await server.stop(true);
    },
  };
}

const SERVER_DATE = "Sat, 05 Dec 2026 05:00:00 GMT";
const cases: { name: string; first: Answer; waitMs: number }[] = [
  { name: "a commit refused (delay-seconds)", first: { status: 503, headers: { "retry-after": "30" } }, waitMs: 30_000 },
  {
    name: "a node shutting down (problem+json, no offset)",
    first: { status: 503, headers: { "retry-after": "30", "content-type": "application/problem+json" }, body: { type: "about:blank", title: "Service unavailable", status: 503 } },
    waitMs: 30_000,
  },
  // Measured from the answer's Date, not the edge's clock (years apart here): 45 s, not the 5 min bound.
  { name: "an HTTP date", first: { status: 503, headers: { date: SERVER_DATE, "retry-after": new Date(Date.parse(SERVER_DATE) + 45_000).toUTCString() } }, waitMs: 45_000 },
];

for (const c of cases) {
  test(`central's 503 with Retry-After, ${c.name}: no upload starts — that segment's or another's — until the time asked for has passed on the edge's clock`, async () => {
    const t = await centralStandIn((n) => (n === 0 ? c.first : null));
    try {
      await t.edge.start();
      await t.waitFor(() => t.puts.length === 1);
      // Polls go on (the work stays queued), uploads do not.
      await t.morePolls(20);
      expect(t.puts.length).toBe(1);
      expect(t.edge.status().queued).toBe(2);
      t.clock.advance(c.waitMs - 1000);
      await t.morePolls(20);
      expect(t.puts.length).toBe(1);
      t.clock.advance(1000);
      await t.waitFor(() => t.committed.size === 2);
      expect(t.puts.length).toBe(3);
    } finally {
      await t.close();
    }
  }, 30_000);
}

test("a 503 whose Retry-After is invalid (garbage, negative, a fraction) leaves the usual retry at the next work poll", async () => {
  const bad = ["soon", "-5", "2.5", ""];
  const t = await centralStandIn((n) => (n < bad.length ? { status: 503, headers: { "retry-after": bad[n]! } } : null));
  try {
    await t.edge.start();
    // The edge's clock never moves: every retry came without waiting for it.
    await t.waitFor(() => t.committed.size === 2);
    expect(t.puts.length).toBe(bad.length + 2);
  } finally {
    await t.close();
  }
}, 30_000);

const pollCases: { name: string; first: Answer; waitMs: number }[] = [
  {
    name: "503 from a draining central (problem+json)",
    first: { status: 503, headers: { "retry-after": "5", "content-type": "application/problem+json" }, body: { type: "about:blank", title: "Service unavailable", status: 503 } },
    waitMs: 5000,
  },
  { name: "429 (delay-seconds)", first: { status: 429, headers: { "retry-after": "30" } }, waitMs: 30_000 },
  { name: "503 with an HTTP date", first: { status: 503, headers: { date: SERVER_DATE, "retry-after": new Date(Date.parse(SERVER_DATE) + 45_000).toUTCString() } }, waitMs: 45_000 },
  { name: "503 asking for a day (bounded: 5 min)", first: { status: 503, headers: { "retry-after": "86400" } }, waitMs: 300_000 },
];

/** Wakes the poll loop a few times (as a link change, the vehicle's state or central reachable again would). */
async function wakePolls(edge: EdgeTransfer): Promise<void> {
  for (let i = 0; i < 5; i++) {
    edge.pollNow();
    await Bun.sleep(20);
  }
}

for (const c of pollCases) {
  test(`a work poll answered ${c.name}: no poll until the time asked for has passed on the edge's clock, however often the poll is woken`, async () => {
    const t = await centralStandIn(() => null, (n) => (n === 0 ? c.first : null));
    try {
      await t.edge.start();
      // Once the edge has read the answer (measured from then on its clock) — or, ignoring it, polled again.
      await t.waitFor(() => t.logged("central asked to wait: work polls wait as it asked (Retry-After)") || t.polls() > 1);
      await wakePolls(t.edge);
      expect(t.polls()).toBe(1);
      t.clock.advance(c.waitMs - 1000);
      await wakePolls(t.edge);
      expect(t.polls()).toBe(1);
      t.clock.advance(1000);
      t.edge.pollNow();
      await t.waitFor(() => t.committed.size === 2);
      expect(t.puts.length).toBe(2);
    } finally {
      await t.close();
    }
  }, 30_000);
}

test("a work poll refused with an invalid Retry-After, or one on another status than 503/429, is retried at the poll's own backoff", async () => {
  const bad: Answer[] = [
    ...["soon", "-5", "2.5", "", "0"].map((v) => ({ status: 503, headers: { "retry-after": v } })),
    { status: 500, headers: { "retry-after": "30" } },
  ];
  const t = await centralStandIn(() => null, (n) => bad[n] ?? null);
  try {
    await t.edge.start();
    // The edge's clock never moves: every retry came without waiting for it.
    await t.waitFor(() => t.committed.size === 2);
    expect(t.polls()).toBeGreaterThan(bad.length);
  } finally {
    await t.close();
  }
}, 30_000);
