/**
 * PullPoint filtering with central's real Rights: a subscriber hears only its site's events,
 * and only about cameras it may see; queues stay bounded; an unsubscribed pull ends.
 */
import { describe, expect, test } from "bun:test";
import { Rights, type Subject } from "../rights/index.ts";
import { edgeEvent } from "./index.ts";
import { MAX_QUEUE, PullPoints, type BridgeEvent } from "./pullpoints.ts";

const rights = new Rights(() => new Map());
rights.setCameraDirectory({ siteOf: (c) => c.slice(0, c.indexOf(".")) });
const oneCamera: Subject = { user: "cam", grants: [{ rights: ["view-live"], scope: "camera:bus-1.cam1" }] };
const may = (sub: Subject) => (e: BridgeEvent) => (e.cameraId ? rights.canSeeCamera(sub, e.cameraId, e.siteId) : rights.hasAny(sub, { site: e.siteId }));
const motion = (site: string, cam: string | null) => edgeEvent({ siteId: site, cameraId: cam ? `${site}.${cam}` : null, eventId: crypto.randomUUID(), kind: "motion", atMs: Date.now(), data: { state: true } });

describe("PullPoints", () => {
  test("only the subscriber's site and cameras it may see", async () => {
    const pp = new PullPoints(() => Date.now());
    const s = pp.create("bus-1", "cam", may(oneCamera), 60_000)!;
    pp.publish(motion("bus-1", "cam1"));
    pp.publish(motion("bus-1", "cam2")); // another camera of the site
    pp.publish(motion("bus-2", "cam1")); // another site
    pp.publish(motion("bus-1", null)); // site-wide: a camera grant does not cover the site
    const got = await pp.pull(s.id, 0, 10);
    expect(got!.map((e) => [e.topic, e.cameraId, e.source.Source, e.data.State])).toEqual([["tns1:VideoSource/MotionAlarm", "bus-1.cam1", "cam1", "true"]]);
    pp.close();
  });

  test("a long poll wakes on the next event; unsubscribe ends it; queues are bounded", async () => {
    const pp = new PullPoints(() => Date.now());
    const admin: Subject = { user: "admin", grants: [{ rights: ["view-live"], scope: "*" }] };
    const s = pp.create("bus-1", "admin", may(admin), 60_000)!;
    const waiting = pp.pull(s.id, 20_000, 10);
    pp.publish(edgeEvent({ siteId: "bus-1", cameraId: "bus-1.cam1", eventId: "e1", kind: "input", atMs: Date.now(), data: {} }));
    expect((await waiting)!.map((e) => [e.topic, e.data.Type, e.data.EventId])).toEqual([["tns1:Outpost/Event", "input", "e1"]]);
    for (let i = 0; i < MAX_QUEUE + 50; i++) pp.publish(motion("bus-1", "cam1"));
    expect((await pp.pull(s.id, 0, 5000))!.length).toBe(MAX_QUEUE);
    const idle = pp.pull(s.id, 20_000, 10);
    pp.unsubscribe(s.id);
    expect(await idle).toEqual([]);
    expect(await pp.pull(s.id, 0, 10)).toBeUndefined();
  });

  test("expired subscriptions are gone", async () => {
    let now = 1_000_000;
    const pp = new PullPoints(() => now);
    const s = pp.create("bus-1", "cam", may(oneCamera), 1000)!;
    now += 1001;
    expect(pp.owner(s.id)).toBeUndefined();
    expect(await pp.pull(s.id, 0, 1)).toBeUndefined();
  });
});
