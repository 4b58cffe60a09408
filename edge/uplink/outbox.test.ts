import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { Outbox } from "./outbox.ts";
import { setAtomicWriteFault } from "../../lib/fsutil.ts";
import { parseUp } from "../../federation/protocol/index.ts";

let root: string;
const log = () => new Logger({ component: "outbox", sink: new MemorySink() });
const clock = new ManualClock();
const health = { disk: { totalBytes: 1, freeBytes: 1, storeBytes: 1 }, streams: [], link: { type: "x", quality: null }, clock: { offsetMs: null, trusted: false }, cert: { notAfter: null, daysLeft: null }, software: { version: "t" }, outbox: { pending: 0, bytes: 0, dropped: 0 }, config: { appliedVersion: null } };
const ev = (i: number) => ({ eventId: `e${i}`, kind: "k", atMs: i });

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outbox-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("outbox", () => {
  test("text a camera or a log line passes on obeys the protocol's text rule (control characters replaced, said in the log)", async () => {
    const sink = new MemorySink();
    const box = await Outbox.open({ dir: path.join(root, "text"), clock, log: new Logger({ component: "outbox", sink }) });
    await box.append("telemetry", { kind: "log", atMs: 1, data: { msg: "\u001b[31mpipeline died\u0000", "k\u0007": "x\ud800" } });
    const m = parseUp(box.after(0, 1)[0]!.payload);
    expect(m.ok && m.msg.body).toEqual({ kind: "log", atMs: 1, data: { msg: "\uFFFD[31mpipeline died\uFFFD", "k\uFFFD": "x\uFFFD" } });
    expect(sink.records.some((r) => r.msg === "control characters replaced in an outgoing message")).toBe(true);
    await box.close();
  });

  test("entries survive a reopen until acknowledged; seq never reused; files of acked entries removed", async () => {
    const dir = path.join(root, "a");
    let box = await Outbox.open({ dir, clock, log: log(), fileBytes: 2048 });
    const ob = box.id;
    for (let i = 1; i <= 100; i++) expect(await box.append("event", ev(i))).toBe(i);
    const msg = parseUp(box.after(0, 1)[0]!.payload);
    expect(msg.ok && msg.msg).toMatchObject({ v: 1, ob, seq: 1, type: "event", body: { eventId: "e1" } });
    box.ack(60);
    await box.close();
    box = await Outbox.open({ dir, clock, log: log(), fileBytes: 2048 });
    expect(box.id).toBe(ob);
    expect(box.stats()).toMatchObject({ pending: 40, firstSeq: 61, lastSeq: 100 });
    expect(box.after(90, 100).map((e) => e.seq)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    box.ack(100);
    await box.close();
    box = await Outbox.open({ dir, clock, log: log(), fileBytes: 2048 });
    expect(box.stats().pending).toBe(0);
    expect(await box.append("event", ev(101))).toBe(101);
    expect((await readdir(dir)).filter((n) => n.endsWith(".log")).length).toBeLessThanOrEqual(2);
    await box.close();
  });

  test("a torn tail (power cut mid-write) is cut; everything before it is kept", async () => {
    const dir = path.join(root, "b");
    const box = await Outbox.open({ dir, clock, log: log() });
    for (let i = 1; i <= 10; i++) await box.append("event", ev(i));
    await box.close();
    const file = (await readdir(dir)).find((n) => n.startsWith("critical"))!;
    await appendFile(path.join(dir, file), new Uint8Array([0, 0, 1, 0, 9, 9, 9, 9, 123, 34]));
    const again = await Outbox.open({ dir, clock, log: log() });
    expect(again.stats()).toMatchObject({ pending: 10, lastSeq: 10 });
    expect(await again.append("event", ev(11))).toBe(11);
    await again.close();
    const third = await Outbox.open({ dir, clock, log: log() });
    expect(third.stats().pending).toBe(11);
    await third.close();
  });

  test("full: oldest telemetry dropped first and reported; events never dropped", async () => {
    const dir = path.join(root, "c");
    const box = await Outbox.open({ dir, clock, log: log(), maxBytes: 6000 });
    for (let i = 0; i < 40; i++) await box.append("health", health);
    const s1 = box.stats();
    expect(s1.bytes).toBeLessThanOrEqual(6000 + 600);
    expect(s1.dropped).toBeGreaterThan(0);
    const types = box.after(0, 1000).map((e) => e.type);
    expect(types).toContain("dropped");
    for (let i = 0; i < 60; i++) await box.append("event", ev(i));
    const after = box.after(0, 10_000);
    expect(after.filter((e) => e.type === "event").length).toBe(60); // over the bound, still kept
    expect(after.filter((e) => e.type === "health").length).toBe(0);
    const drops = after.filter((e) => e.type === "dropped").map((e) => parseUp(e.payload));
    const total = drops.reduce((a, d) => a + (d.ok && d.msg.type === "dropped" ? d.msg.body.count : 0), 0);
    expect(total).toBe(40);
    await box.close();
    const re = await Outbox.open({ dir, clock, log: log(), maxBytes: 6000 });
    expect(re.after(0, 10_000).filter((e) => e.type === "health").length).toBe(0);
    expect(re.after(0, 10_000).filter((e) => e.type === "event").length).toBe(60);
    await re.close();
  });

  test("kill -9 while appending: every entry reported durable is there after reopen", async () => {
    const dir = path.join(root, "d");
    const child = Bun.spawn(["bun", path.join(import.meta.dir, "testdata/appender.ts"), dir], { stdout: "pipe", stderr: "inherit" });
    let durable = 0;
    const reader = (async () => {
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of child.stdout) {
        buf += dec.decode(chunk);
        const lines = buf.split("\n");
        buf = lines.pop()!;
        for (const l of lines) if (l.startsWith("D ")) durable = Math.max(durable, Number(l.slice(2)));
      }
    })();
    while (durable < 3000) await Bun.sleep(20);
    child.kill(9);
    await child.exited;
    await reader;
    const box = await Outbox.open({ dir, clock, log: log() });
    const seqs = box.after(0, 1e9).map((e) => e.seq);
    expect(seqs.length).toBeGreaterThanOrEqual(durable);
    expect(seqs.slice(0, durable)).toEqual(Array.from({ length: durable }, (_, i) => i + 1));
    expect(await box.append("event", ev(0))).toBe(seqs[seqs.length - 1]! + 1);
    await box.close();
  });

  test("a state save while another is in flight (batch timer vs close) neither fails nor loses the newer ack", async () => {
    const dir = path.join(root, "overlap");
    const sink = new MemorySink();
    const box = await Outbox.open({ dir, clock, log: new Logger({ component: "outbox", sink }) });
    for (let i = 1; i <= 10; i++) await box.append("event", ev(i));
    // Hold the timer's save of state.json just before its rename, as a slow disk under load does.
    let held: (() => void) | null = null;
    const gate = new Promise<void>((r) => (held = r));
    let hits = 0;
    setAtomicWriteFault(async (step, file) => {
      if (step === "rename" && file.endsWith(path.join("overlap", "state.json")) && hits++ === 0) await gate;
    });
    try {
      box.ack(5);
      const deadline = Date.now() + 10_000;
      while (hits === 0 && Date.now() < deadline) await Bun.sleep(10);
      expect(hits).toBe(1); // the batched save is in flight, through the shared crash-safe helper
      box.ack(10);
      const closing = box.close(); // saves again while the first save is still open
      await Bun.sleep(50);
      held!();
      await closing;
    } finally {
      setAtomicWriteFault(null);
    }
    expect(sink.records.filter((r) => r.level === "error")).toEqual([]);
    expect(JSON.parse(await Bun.file(path.join(dir, "state.json")).text()).acked).toBe(10);
    expect((await readdir(dir)).filter((n) => n.includes(".tmp"))).toEqual([]);
  });
});
