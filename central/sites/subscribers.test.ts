import { expect, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { SiteEvents } from "./subscribers.ts";

const ev = (eventId: string) => ({ siteId: "s1", cameraId: "s1.cam1", eventId, kind: "motion", atMs: 1, data: {} });

test("every subscriber gets each event in order; one that throws does not stop the others; unsubscribe stops delivery", () => {
  const sink = new MemorySink();
  const events = new SiteEvents(new Logger({ component: "test", sink }));
  const a: string[] = [];
  const b: string[] = [];
  const offA = events.subscribe((e) => a.push(e.eventId));
  events.subscribe(() => {
    throw new Error("broken subscriber");
  });
  events.subscribe((e) => b.push(e.eventId));
  events.emit(ev("e1"));
  events.emit(ev("e2"));
  offA();
  events.emit(ev("e3"));
  expect(a).toEqual(["e1", "e2"]);
  expect(b).toEqual(["e1", "e2", "e3"]);
  expect(sink.records.filter((r) => r.msg === "site event subscriber failed").length).toBe(3);
});
