/**
 * Reading a server's Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date. A value
 * this parser does not accept (negative, a fraction, garbage, an obsolete date format) gives
 * null: the client keeps its own backoff. A valid one is bounded (`maxMs`): a server, or a
 * proxy in between, asking for an hour must not stop a recorder's uploads for an hour.
 */

/** The longest wait a Retry-After may impose by default. */
export const MAX_RETRY_AFTER_MS = 300_000;

const DELAY_SECONDS = /^\d+$/;
/** IMF-fixdate, the one format senders must use: "Sun, 06 Nov 1994 08:49:37 GMT". */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** An IMF-fixdate as ms since the epoch; null unless it is one and names a real moment (its weekday included). */
export function parseHttpDate(value: string | null | undefined): number | null {
  if (typeof value !== "string" || !IMF_FIXDATE.test(value)) return null;
  const t = Date.parse(value);
  // The round trip rejects what Date.parse would quietly roll over (31 Feb, 25:00, a wrong weekday).
  return Number.isFinite(t) && new Date(t).toUTCString() === value ? t : null;
}

/**
 * Milliseconds to wait before asking again, in [0, maxMs]; null when the value is absent or not
 * a valid Retry-After. `nowMs`: the time an HTTP date is measured from (the answer's own Date
 * header when it has one, so the two clocks' difference does not count).
 */
export function retryAfterMs(value: string | null | undefined, nowMs: number, maxMs = MAX_RETRY_AFTER_MS): number | null {
  if (typeof value !== "string") return null;
  const v = value.trim();
  // Any run of digits is valid; one too long for a double is as good as "very long": the bound applies.
  if (DELAY_SECONDS.test(v)) return Math.min(Number(v) * 1000, maxMs);
  const at = parseHttpDate(v);
  return at === null ? null : Math.min(Math.max(0, at - nowMs), maxMs);
}
