import { describe, expect, test } from "bun:test";
import { HttpDrain } from "./drain.ts";
import { SHUTDOWN_RETRY_AFTER_S } from "./problem.ts";

const req = (p = "/x") => new Request(`http://localhost${p}`);

describe("HttpDrain", () => {
  test("after begin, new requests get 503 problem+json with Retry-After; the one inside finishes", async () => {
    const d = new HttpDrain();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const fetch = d.wrap(async (_r: Request) => {
      calls++;
      await gate;
      return new Response("done");
    });
    const inside = fetch(req());
    expect(d.active).toBe(1);
    d.begin();
    const late = await fetch(req("/federation/v1/transfer/work"));
    expect(late.status).toBe(503);
    expect(late.headers.get("content-type")).toBe("application/problem+json");
    expect(late.headers.get("retry-after")).toBe(String(SHUTDOWN_RETRY_AFTER_S));
    expect(((await late.json()) as { instance: string }).instance).toBe("/federation/v1/transfer/work");
    expect(calls).toBe(1);
    let settled = false;
    const s = d.settle(60_000).then((n) => ((settled = true), n));
    await Bun.sleep(20);
    expect(settled).toBe(false);
    release();
    expect(await (await inside).text()).toBe("done");
    expect(await s).toBe(0);
  });

  test("settle gives up after its bound and says how many are still inside", async () => {
    const d = new HttpDrain();
    const fetch = d.wrap((_r: Request) => new Promise<Response>(() => undefined));
    void fetch(req());
    d.begin();
    expect(await d.settle(30)).toBe(1);
  });

  test("a handler that throws still leaves the count", async () => {
    const d = new HttpDrain();
    const fetch = d.wrap(async (_r: Request): Promise<Response> => {
      throw new Error("boom");
    });
    await expect(fetch(req())).rejects.toThrow("boom");
    expect(d.active).toBe(0);
    expect(await d.settle(10)).toBe(0);
  });
});
