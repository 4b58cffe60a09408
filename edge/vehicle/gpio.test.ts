/**
 * GPIO uAPI v2 layouts and the reader. This machine has no GPIO subsystem (no /dev/gpiochip*,
 * no gpio-sim), so the device path itself is not exercised here: the byte layouts are checked
 * against the kernel header's documented offsets and sizes, the event decoder by properties,
 * and the reader's failure path with real files (a missing chip, a file that is not a chip:
 * the ioctl through bun:ffi fails and is reported).
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { removeTempDirs, tempDir, until } from "../../tests/helpers.ts";
import { GpioInput } from "./gpio.ts";
import {
  GPIO_V2_GET_LINE_IOCTL,
  GPIO_V2_LINE_GET_VALUES_IOCTL,
  LINE_EVENT_SIZE,
  LINE_FLAG,
  LINE_REQUEST_SIZE,
  decodeLineEvents,
  decodeValues,
  encodeLineEvent,
  encodeLineRequest,
  encodeValuesQuery,
  type LineEvent,
} from "./gpio-uapi.ts";

test("ioctl numbers and sizes are the kernel's (linux/gpio.h)", () => {
  expect(LINE_REQUEST_SIZE).toBe(592);
  expect(LINE_EVENT_SIZE).toBe(48);
  expect(GPIO_V2_GET_LINE_IOCTL).toBe(0xc250b407);
  expect(GPIO_V2_LINE_GET_VALUES_IOCTL).toBe(0xc010b40e);
});

test("a line request: offsets, consumer, default flags (input, both edges, realtime clock), per-line attributes, line count, fd = -1", () => {
  const req = encodeLineRequest("outpost", [
    { offset: 17, activeLow: false, bias: "as-is", debounceUs: 10_000 },
    { offset: 4, activeLow: false, bias: "as-is", debounceUs: 0 },
    { offset: 22, activeLow: true, bias: "pull-up", debounceUs: 10_000 },
  ]);
  const v = new DataView(req.buffer);
  expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).toEqual([17, 4, 22]);
  expect(new TextDecoder().decode(req.subarray(256, 263))).toBe("outpost");
  const base = LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING | LINE_FLAG.EDGE_FALLING | LINE_FLAG.EVENT_CLOCK_REALTIME;
  expect(v.getBigUint64(288, true)).toBe(base);
  expect(v.getUint32(296, true)).toBe(2); // num_attrs: flags of line 3, debounce of lines 1 and 3
  // attrs[0]: flags for the active-low, pulled-up line (mask bit 2)
  expect(v.getUint32(320, true)).toBe(1);
  expect(v.getBigUint64(328, true)).toBe(base | LINE_FLAG.ACTIVE_LOW | LINE_FLAG.BIAS_PULL_UP);
  expect(v.getBigUint64(336, true)).toBe(0b100n);
  // attrs[1]: debounce 10 ms for lines 0 and 2
  expect(v.getUint32(344, true)).toBe(3);
  expect(v.getUint32(352, true)).toBe(10_000);
  expect(v.getBigUint64(360, true)).toBe(0b101n);
  expect(v.getUint32(560, true)).toBe(3);
  expect(v.getInt32(588, true)).toBe(-1);
  expect(() => encodeLineRequest("x", [])).toThrow(RangeError);
});

const event = fc.record<LineEvent>({
  timestampNs: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  active: fc.boolean(),
  offset: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  seqno: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  lineSeqno: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
});

test("property: events decode to what the kernel wrote, however a read splits them; a partial tail waits for the next read", () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 5 }), (evs, cuts) => {
      const all = new Uint8Array(evs.length * LINE_EVENT_SIZE);
      evs.forEach((e, i) => all.set(encodeLineEvent(e), i * LINE_EVENT_SIZE));
      const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
      const got: LineEvent[] = [];
      let rest: Uint8Array = new Uint8Array(0);
      let from = 0;
      for (const to of [...points, all.length]) {
        const chunk = all.subarray(from, to);
        from = to;
        const joined = new Uint8Array(rest.length + chunk.length);
        joined.set(rest);
        joined.set(chunk, rest.length);
        const r = decodeLineEvents(joined);
        got.push(...r.events);
        rest = r.rest;
      }
      expect(rest.length).toBe(0);
      expect(got).toEqual(evs);
    }),
    { numRuns: 300 },
  );
});

test("property: an event id other than rising (1) or falling (2) is refused, not guessed", () => {
  fc.assert(
    fc.property(event, fc.integer({ min: 0, max: 2 ** 32 - 1 }).filter((x) => x !== 1 && x !== 2), (e, id) => {
      const b = encodeLineEvent(e);
      new DataView(b.buffer).setUint32(8, id, true);
      expect(() => decodeLineEvents(b)).toThrow(/id/);
    }),
  );
});

test("property: line values come back per line from the bits", () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), (vals) => {
      const q = encodeValuesQuery(vals.length);
      const mask = new DataView(q.buffer).getBigUint64(8, true);
      expect(mask).toBe(vals.length === 64 ? (1n << 64n) - 1n : (1n << BigInt(vals.length)) - 1n);
      const bits = vals.reduce((a, v, i) => (v ? a | (1n << BigInt(i)) : a), 0n);
      new DataView(q.buffer).setBigUint64(0, bits, true);
      expect(decodeValues(q, vals.length)).toEqual(vals);
    }),
  );
});

test("the reader reports a chip it cannot use (missing; a file that is not a GPIO chip: the ioctl fails) and keeps retrying; nothing is invented", async () => {
  const dir = await tempDir("gpio-reader");
  const sink = new MemorySink();
  const log = new Logger({ component: "test", sink, level: "debug" });
  const got: unknown[] = [];
  const cfg = (chip: string) => ({ chip, pollMs: 20, lines: [{ line: 3, input: "ignition", activeLow: false, bias: "as-is" as const, debounceMs: 5 }] });
  const missing = new GpioInput(cfg(join(dir, "gpiochip9")), { clock: systemClock, log, input: async (...a) => void got.push(a), backoff: { minMs: 20, maxMs: 40 } });
  missing.start();
  await until("two attempts on the missing chip", () => sink.records.filter((r) => r.msg.includes("GPIO chip not available") && String((r as { err?: unknown }).err).includes("ENOENT")).length >= 2, 10_000);
  missing.stop();
  const notChip = join(dir, "not-a-chip");
  await writeFile(notChip, "x");
  const wrong = new GpioInput(cfg(notChip), { clock: systemClock, log, input: async (...a) => void got.push(a), backoff: { minMs: 20, maxMs: 40 } });
  wrong.start();
  await until("the ioctl refused", () => sink.records.some((r) => String((r as { err?: unknown }).err).includes("GPIO_V2_GET_LINE_IOCTL")), 10_000);
  wrong.stop();
  expect(got).toEqual([]);
  expect(missing.stats.opens + wrong.stats.opens).toBe(0);
  await removeTempDirs();
});
