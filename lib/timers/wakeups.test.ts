import { expect, spyOn, test } from "bun:test";
import { Wakeups } from "./wakeups.ts";
import { manual } from "./manual-timer.ts";

test("work with slack runs in a wake-up that happens anyway, never later than asked", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const ran: string[] = [];
  // A 100 ms period with no slack (the batched reads) and a 250 ms deadline with 100 ms slack (the durability tick).
  const batch = () => {
    ran.push(`batch@${m.t}`);
    w.after(batch, 100);
  };
  w.after(batch, 100);
  m.advance(30);
  w.after(() => ran.push(`tick@${m.t}`), 250, 100); // may run from 180 to 280
  m.advance(400);
  expect(ran).toEqual(["batch@100", "tick@200", "batch@200", "batch@300", "batch@400"]); // in the order asked for
  expect(m.wakes).toBe(4); // the tick took no wake-up of its own
});

test("alone, work runs at its deadline, not early", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const ran: number[] = [];
  w.after(() => ran.push(m.t), 250, 100);
  w.after(() => ran.push(m.t), 1000, 200);
  m.advance(2000);
  expect(ran).toEqual([250, 1000]);
  expect(m.wakes).toBe(2);
});

test("an earlier deadline re-arms the timer; cancelled work does not run", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const ran: string[] = [];
  w.after(() => ran.push(`late@${m.t}`), 500);
  const c = w.after(() => ran.push("cancelled"), 50);
  w.after(() => ran.push(`early@${m.t}`), 100);
  c.cancel();
  m.advance(600);
  expect(ran).toEqual(["early@100", "late@500"]);
  expect(w.pending).toBe(0);
  expect(m.armed.length).toBe(0); // nothing left armed once nothing waits
});

test("one callback that throws does not stop the others due in the same wake-up", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const logged = spyOn(console, "error").mockImplementation(() => undefined);
  let ok = 0;
  w.after(() => {
    throw new Error("bad");
  }, 100);
  w.after(() => ok++, 100);
  m.advance(100);
  expect(ok).toBe(1);
  expect(logged).toHaveBeenCalled();
  logged.mockRestore();
});

test("real timers: work due together runs, and the process's timer does not keep it alive", async () => {
  const w = new Wakeups();
  const ran: number[] = [];
  await new Promise<void>((done) => {
    w.after(() => ran.push(1), 20);
    w.after(() => (ran.push(2), done()), 30, 15);
  });
  expect(ran).toEqual([1, 2]);
});

test("keepAlive work keeps the shared timer referenced; chores alone leave it unreferenced", () => {
  const handles: { unref: () => void; unrefd: boolean; fn: () => void }[] = [];
  const schedule = (fn: () => void) => {
    const h = { fn, unrefd: false, unref: () => void (h.unrefd = true) };
    handles.push(h);
    return h;
  };
  let t = 0;
  const w = new Wakeups(schedule, () => undefined, () => t);
  w.after(() => undefined, 1000, 200); // a chore (watchdog)
  expect(handles.at(-1)!.unrefd).toBe(true);
  w.after(() => undefined, 2000, 1999, { keepAlive: true }); // a later deadline, but someone awaits it
  expect(handles.length).toBe(2); // re-armed so that the timer holds the process
  expect(handles.at(-1)!.unrefd).toBe(false);
  t = 1000;
  handles.at(-1)!.fn(); // both run (the join's window is open)
  expect(w.pending).toBe(0);
  w.after(() => undefined, 1000);
  expect(handles.at(-1)!.unrefd).toBe(true);
});

test("soon: runs once after the current turn and its microtasks, without a timer; a cancelled one does not run", async () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const ran: string[] = [];
  w.soon(() => ran.push("soon"));
  w.soon(() => ran.push("cancelled")).cancel();
  void Promise.resolve().then(() => ran.push("microtask"));
  ran.push("turn");
  await new Promise((r) => setImmediate(r));
  expect(ran).toEqual(["turn", "microtask", "soon"]);
  expect(m.wakes).toBe(0);
  expect(m.armed).toHaveLength(0);
});

test("cancelling the work a timer was armed for disarms it (no wake-up for nothing), or re-arms it for the next", () => {
  const m = manual();
  const w = new Wakeups(m.schedule, m.unschedule, m.now);
  const ran: number[] = [];
  const first = w.after(() => ran.push(m.t), 100);
  w.after(() => ran.push(m.t), 300);
  first.cancel();
  expect(m.armed.map((a) => a.at)).toEqual([300]);
  m.advance(1000);
  expect(ran).toEqual([300]);
  expect(m.wakes).toBe(1);
  w.after(() => ran.push(m.t), 100).cancel();
  expect(m.armed).toHaveLength(0);
});
