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

  test("sessions end after idleMs without use; each use restarts the idle clock", () => {
    const clock = new ManualClock(0);
    const s = new Sessions(clock, 3_600_000, 10_000);
    const a = s.create("admin");
    clock.advance(9_999);
    expect(s.get(a.token)).toBeDefined(); // used: idle clock restarts
    clock.advance(9_999);
    expect(s.get(a.token)).toBeDefined();
    clock.advance(10_000);
    expect(s.get(a.token)).toBeUndefined();
    expect(s.size).toBe(0);
  });

  test("streams held on a session close at logout and at expiry; an open stream keeps the session from going idle", () => {
    const clock = new ManualClock(0);
    const s = new Sessions(clock, 100_000, 10_000);
    const a = s.create("admin");
    const b = s.create("admin");
    const closed: string[] = [];
    const release = s.hold(a.token, (r) => closed.push(`a:${r}`));
    s.hold(b.token, (r) => closed.push(`b:${r}`));
    clock.advance(20_000);
    s.sweep();
    expect(s.get(a.token)).toBeDefined(); // idle by requests, but watching
    s.revoke(b.token);
    expect(closed).toEqual(["b:logged out"]);
    clock.advance(80_000);
    s.sweep();
    expect(closed).toEqual(["b:logged out", "a:session expired"]);
    release();
    const c = s.create("admin");
    s.hold(c.token, (r) => closed.push(`c:${r}`))();
    s.revoke(c.token);
    expect(closed.length).toBe(2); // released streams are not closed again
  });

  test("throttle: N failures per (user, address) inside the window lock that pair only, for lockMs; success resets", () => {
    const clock = new ManualClock(0);
    const t = new LoginThrottle(clock, { maxFailures: 3, windowMs: 10_000, lockMs: 30_000 });
    const fail = (u = "admin", a = "1.2.3.4") => {
      const d = t.begin(u, a);
      if (!d.ok) return d.retryAfterMs;
      d.attempt.fail();
      return 0;
    };
    expect(fail()).toBe(0);
    expect(fail()).toBe(0);
    clock.advance(11_000); // the first two fall out of the window
    expect(fail()).toBe(0);
    expect(fail()).toBe(0);
    expect(fail()).toBe(0);
    expect(t.retryAfterMs("admin", "1.2.3.4")).toBe(30_000);
    expect(fail()).toBe(30_000);
    // the same user from another address, and another user from the same address, still get checked
    expect(t.retryAfterMs("admin", "5.6.7.8")).toBe(0);
    const other = t.begin("admin", "5.6.7.8");
    expect(other.ok).toBe(true);
    if (other.ok) other.attempt.succeed();
    expect(t.begin("bob", "1.2.3.4").ok).toBe(true);
    clock.advance(30_000);
    expect(t.retryAfterMs("admin", "1.2.3.4")).toBe(0);
    fail();
    const ok = t.begin("admin", "1.2.3.4");
    if (ok.ok) ok.attempt.succeed();
    fail();
    fail();
    expect(t.retryAfterMs("admin", "1.2.3.4")).toBe(0);
  });

  test("throttle reserves before the check: of 15 parallel attempts only maxFailures are checked", () => {
    const t = new LoginThrottle(new ManualClock(0), { maxFailures: 5 });
    const ds = Array.from({ length: 15 }, () => t.begin("admin", "10.0.0.1"));
    expect(ds.filter((d) => d.ok).length).toBe(5);
    for (const d of ds) if (d.ok) d.attempt.fail();
    expect(t.begin("admin", "10.0.0.1").ok).toBe(false);
  });

  test("throttle: many addresses drain the per-user budget, then only clean addresses are checked", () => {
    const clock = new ManualClock(0);
    const t = new LoginThrottle(clock, { maxFailures: 5, userBurst: 6, userRefillMs: 60_000, addressMaxFailures: 100 });
    // 3 attacker addresses × 2 failures = 6 = the whole per-user budget
    for (const a of ["a1", "a2", "a3"])
      for (let i = 0; i < 2; i++) {
        const d = t.begin("admin", a);
        expect(d.ok).toBe(true);
        if (d.ok) d.attempt.fail();
      }
    const again = t.begin("admin", "a1");
    expect(again.ok).toBe(false); // a1 has failures and the budget is empty
    if (!again.ok) expect(again.retryAfterMs).toBe(60_000);
    const real = t.begin("admin", "desk"); // clean address: still checked
    expect(real.ok).toBe(true);
    if (real.ok) real.attempt.succeed();
    clock.advance(60_000); // one failure forgiven
    expect(t.begin("admin", "a1").ok).toBe(true);
  });

  test("throttle: one address spraying many user names is stopped by the per-address budget", () => {
    const t = new LoginThrottle(new ManualClock(0), { maxFailures: 5, addressMaxFailures: 8 });
    let checked = 0;
    for (let i = 0; i < 20; i++) {
      const d = t.begin(`user${i}`, "9.9.9.9");
      if (d.ok) (checked++, d.attempt.fail());
    }
    expect(checked).toBe(8);
    expect(t.begin("admin", "1.1.1.1").ok).toBe(true);
  });
});
