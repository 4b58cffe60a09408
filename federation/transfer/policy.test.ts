/** Policy schema, per-camera overrides, time windows in the site's zone, link profiles. */
import { expect, test } from "bun:test";
import { SitePolicy, classAllowed, effectivePolicy, inWindows, linkProfile, chunkHashes, sha256Hex } from "./index.ts";

test("the web client's policy body is accepted; bad combinations are refused with a reason", () => {
  const web = { options: ["scheduled", "on-event"], schedule: { from: "01:00", to: "05:00" }, event: { preSeconds: 30, postSeconds: 30 }, budget: { monthlyBytes: 2e9, rateBitsPerSecond: 1e6 } };
  expect(SitePolicy.safeParse(web).success).toBe(true);
  const bad = SitePolicy.safeParse({ options: ["none", "on-request"] });
  expect(bad.success).toBe(false);
  expect(bad.error!.issues[0]!.message).toContain("cannot be combined");
  expect(SitePolicy.safeParse({ options: ["scheduled"] }).success).toBe(false);
  expect(SitePolicy.safeParse({ options: [] }).success).toBe(false);
  expect(SitePolicy.safeParse({ options: ["both"], extra: 1 }).success).toBe(false);
  expect(SitePolicy.safeParse({ options: ["both"], timeZone: "Nowhere/Else" }).success).toBe(false);
});

test("camera overrides replace the site's fields; defaults are edge-only on main", () => {
  const p = SitePolicy.parse({ options: ["on-request"], stream: "sub", cameras: { cam2: { options: ["on-event"], event: { preSeconds: 5, postSeconds: 10 } } } });
  expect(effectivePolicy(p, "cam1")).toMatchObject({ options: ["on-request"], stream: "sub" });
  expect(effectivePolicy(p, "cam2")).toMatchObject({ options: ["on-event"], event: { preMs: 5000, postMs: 10000, kinds: null } });
  expect(effectivePolicy(null, "x")).toMatchObject({ options: ["edge-only"], stream: "main" });
});

test("time windows are evaluated in the site's time zone, across midnight and by weekday", () => {
  // 2026-11-26 is a Thursday (day 4). 23:30 UTC = 00:30 Friday in Oslo (UTC+1).
  const t = Date.parse("2026-11-26T23:30:00Z");
  expect(inWindows([{ from: "23:00", to: "01:00" }], t, "UTC")).toBe(true);
  expect(inWindows([{ from: "01:00", to: "05:00" }], t, "UTC")).toBe(false);
  expect(inWindows([{ from: "00:00", to: "01:00", days: [5] }], t, "Europe/Oslo")).toBe(true);
  expect(inWindows([{ from: "00:00", to: "01:00", days: [4] }], t, "Europe/Oslo")).toBe(false);
  expect(inWindows([{ from: "22:00", to: "02:00", days: [4] }], t, "Europe/Oslo")).toBe(true); // started Thursday
  expect(inWindows([{ from: "00:00", to: "24:00" }], t, "UTC")).toBe(true);
});

test("link profiles: explicit links, the budget shorthand for metered links, allow-lists", () => {
  const p = SitePolicy.parse({ options: ["both"], budget: { monthlyBytes: 1000, rateBitsPerSecond: 8000 } });
  expect(linkProfile(p, "cellular")).toEqual({ rateBitsPerSecond: 8000, monthlyBytes: 1000 });
  expect(linkProfile(p, "wifi")).toEqual({});
  const q = SitePolicy.parse({ options: ["both"], links: { cellular: { allow: ["alarm", "request"] }, wifi: {} } });
  expect(classAllowed(linkProfile(q, "cellular"), "backfill")).toBe(false);
  expect(classAllowed(linkProfile(q, "cellular"), "alarm")).toBe(true);
  expect(classAllowed(linkProfile(q, "satellite"), "alarm")).toBe(false); // not listed: not used
});

test("chunk hashes cover the tail from a chunk index", () => {
  const data = new Uint8Array(10_000).map((_, i) => i % 251);
  const all = chunkHashes(data, 4096);
  expect(all.length).toBe(3);
  expect(chunkHashes(data, 4096, 1)).toEqual(all.slice(1));
  expect(all[2]).toBe(sha256Hex(data.subarray(8192)));
});
