import { describe, expect, test } from "bun:test";
import { UserStreams, type HeldStream } from "./streams.ts";
import type { Subject } from "../rights/index.ts";

const stream = (user: string, closed: string[], o: { sessionId?: string; camera?: string } = {}): HeldStream => ({
  user,
  ...(o.sessionId ? { sessionId: o.sessionId } : {}),
  allowed: (sub: Subject) => sub.grants.some((g) => g.scope === "*" || g.scope === `camera:${o.camera}`),
  close: (r) => closed.push(`${user}/${o.sessionId ?? "-"}/${o.camera ?? "-"}: ${r}`),
});

describe("UserStreams", () => {
  test("endSession closes only that session's streams; endUser all of the user's; others untouched", () => {
    const reg = new UserStreams();
    const closed: string[] = [];
    reg.hold(stream("ann", closed, { sessionId: "s1" }));
    reg.hold(stream("ann", closed, { sessionId: "s2" }));
    reg.hold(stream("ann", closed)); // RTSP: no session
    reg.hold(stream("bob", closed, { sessionId: "s3" }));
    expect(reg.inUse("s1")).toBe(true);
    expect(reg.endSession("ann", "s1", "logged out")).toBe(1);
    expect(closed).toEqual(["ann/s1/-: logged out"]);
    expect(reg.inUse("s1")).toBe(false);
    expect(reg.endUser("ann", "user disabled")).toBe(2);
    expect(reg.count("ann")).toBe(0);
    expect(reg.count("bob")).toBe(1);
    expect(reg.users()).toEqual(["bob"]);
  });

  test("recheck closes what the new grants no longer cover; null = no access", () => {
    const reg = new UserStreams();
    const closed: string[] = [];
    reg.hold(stream("ann", closed, { camera: "a.cam1" }));
    reg.hold(stream("ann", closed, { camera: "a.cam2" }));
    const sub = (scope: string): Subject => ({ user: "ann", grants: [{ rights: ["view-live"], scope, maxPriority: "alarm" } as never] });
    expect(reg.recheck("ann", sub("camera:a.cam1"), "role changed")).toBe(1);
    expect(closed).toEqual(["ann/-/a.cam2: role changed"]);
    expect(reg.recheck("ann", null, "no user")).toBe(1);
    expect(reg.count()).toBe(0);
  });

  test("a stream authorized before its access ended but registered after is closed at once", () => {
    const reg = new UserStreams();
    const closed: string[] = [];
    const before = reg.mark();
    reg.endUser("ann", "user disabled"); // nothing open yet
    const release = reg.hold(stream("ann", closed), before);
    expect(closed).toEqual(["ann/-/-: access ended while the stream was opening"]);
    expect(reg.count("ann")).toBe(0);
    release();
    const m2 = reg.mark();
    reg.endSession("bob", "s9", "logged out");
    reg.hold(stream("bob", closed, { sessionId: "s9" }), m2);
    reg.hold(stream("bob", closed, { sessionId: "s10" }), m2); // another session: fine
    expect(closed.length).toBe(2);
    expect(reg.count("bob")).toBe(1);
    reg.hold(stream("ann", closed), reg.mark()); // authorized after the end: fine
    expect(reg.count("ann")).toBe(1);
  });
});
