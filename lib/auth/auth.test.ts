import { describe, expect, test } from "bun:test";
import { ManualClock } from "../clock.ts";
import { LoginThrottle, Sessions, hashPassword, verifyPassword } from "./index.ts";

describe("auth", () => {
  test("argon2id hash verifies the right password only; a malformed hash is a plain false", async () => {
    const h = await hashPassword("s3cret");
    expect(h.startsWith("$argon2id$")).toBe(true);
    expect(await verifyPassword("s3cret", h)).toBe(true);
    expect(await verifyPassword("S3cret", h)).toBe(false);
    expect(await verifyPassword("s3cret", "not a hash")).toBe(false);
    expect(() => hashPassword("")).toThrow(/empty/);
  });

  test("sessions expire at their ttl and can be revoked", () => {
    const clock = new ManualClock(1_000_000);
    const s = new Sessions(clock, 60_000);
    const a = s.create("admin");
    expect(a.token.length).toBeGreaterThanOrEqual(43);
    expect(s.get(a.token)?.user).toBe("admin");
    expect(s.get("other")).toBeUndefined();
    expect(s.get(undefined)).toBeUndefined();
    clock.advance(59_999);
    expect(s.get(a.token)).toBeDefined();
    clock.advance(1);
    expect(s.get(a.token)).toBeUndefined();
    const b = s.create("admin");
    expect(s.revoke(b.token)).toBe(true);
    expect(s.get(b.token)).toBeUndefined();
  });

  test("throttle locks a key after N failures inside the window, for lockMs; success resets", () => {
    const clock = new ManualClock(0);
    const t = new LoginThrottle(clock, { maxFailures: 3, windowMs: 10_000, lockMs: 30_000 });
    const k = ["user:admin", "ip:1.2.3.4"];
    t.fail(k);
    t.fail(k);
    expect(t.retryAfterMs(k)).toBe(0);
    clock.advance(11_000); // the first two fall out of the window
    t.fail(k);
    expect(t.retryAfterMs(k)).toBe(0);
    t.fail(k);
    t.fail(k);
    expect(t.retryAfterMs(k)).toBe(30_000);
    expect(t.retryAfterMs(["ip:1.2.3.4"])).toBe(30_000);
    expect(t.retryAfterMs(["user:other"])).toBe(0);
    clock.advance(30_000);
    expect(t.retryAfterMs(k)).toBe(0);
    t.fail(k);
    t.succeed(k);
    t.fail(k);
    t.fail(k);
    expect(t.retryAfterMs(k)).toBe(0);
  });
});
