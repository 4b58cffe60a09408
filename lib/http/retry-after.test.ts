import { expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_RETRY_AFTER_MS, parseHttpDate, retryAfterMs } from "./retry-after.ts";

const NOW = Date.UTC(2026, 11, 5, 5, 0, 0);
/** Every moment an IMF-fixdate can name (years 0000–9999), to the second. */
const anyDate = fc.integer({ min: Date.UTC(1000, 0, 1) / 1000, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 }).map((s) => s * 1000);

test("delay-seconds: the wait asked for, bounded by the maximum however many digits", () => {
  expect(retryAfterMs("5", NOW)).toBe(5000);
  expect(retryAfterMs(" 120 ", NOW)).toBe(120_000);
  expect(retryAfterMs("0", NOW)).toBe(0);
  expect(retryAfterMs("301", NOW)).toBe(MAX_RETRY_AFTER_MS);
  expect(retryAfterMs("9".repeat(400), NOW)).toBe(MAX_RETRY_AFTER_MS);
  expect(retryAfterMs("10", NOW, 3000)).toBe(3000);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), (n) => {
      expect(retryAfterMs(n.toString(), NOW)).toBe(Math.min(Number(n) * 1000, MAX_RETRY_AFTER_MS));
    }),
  );
});

test("an HTTP date: the time until it from `now`, none once it has passed, bounded by the maximum", () => {
  expect(retryAfterMs(new Date(NOW + 7000).toUTCString(), NOW)).toBe(7000);
  expect(retryAfterMs(new Date(NOW - 7000).toUTCString(), NOW)).toBe(0);
  expect(retryAfterMs(new Date(NOW + 86_400_000).toUTCString(), NOW)).toBe(MAX_RETRY_AFTER_MS);
  fc.assert(
    fc.property(anyDate, (t) => {
      const s = new Date(t).toUTCString();
      expect(parseHttpDate(s)).toBe(t);
      expect(retryAfterMs(s, NOW)).toBe(Math.min(Math.max(0, t - NOW), MAX_RETRY_AFTER_MS));
    }),
  );
});

test("hostile or invalid values give null (the caller's own backoff): negative, fractions, exponents, garbage, impossible or obsolete dates", () => {
  for (const v of [null, undefined, "", " ", "-5", "-0", "+5", "5.5", "1e3", "0x10", "5s", "Infinity", "NaN", "５", "5 5", "\u00005",
    "Mon, 06 Nov 1994 08:49:37 GMT", // 6 Nov 1994 was a Sunday
    "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "2026-12-05T05:00:00Z", "tomorrow"]) {
    expect(retryAfterMs(v, NOW)).toBeNull();
  }
  fc.assert(
    fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }), (n) => {
      expect(retryAfterMs(String(n), NOW)).toBeNull();
    }),
  );
});

test("any string: null, or a whole number of ms within [0, maximum]", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60, unit: "binary" }), fc.stringMatching(/^[ -~]{0,40}$/), anyDate.map((t) => new Date(t).toUTCString().replace(/\d/, (d) => String((Number(d) + 1) % 10)))), fc.integer({ min: 0, max: 2 ** 47 }), (v, now) => {
      const ms = retryAfterMs(v, now);
      if (ms !== null) {
        expect(Number.isInteger(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
      }
    }),
  );
});
