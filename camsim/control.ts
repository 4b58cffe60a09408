/**
 * HTTP control endpoint of camsim (Hono on Bun.serve): list cameras, inject faults and events.
 * Tests, benchmarks and the demo drive the simulator through this or the TypeScript API.
 */
import { Hono } from "hono";
import { z } from "zod";
import { badRequest, notFound, onNotFound, onProblem, readJson } from "../lib/http/problem.ts";
import type { Logger } from "../lib/log/index.ts";
import type { Camsim, SimCamera } from "./index.ts";

function view(c: SimCamera) {
  return {
    id: c.id,
    name: c.name,
    state: c.state,
    rtspMain: c.rtspMain,
    rtspSub: c.rtspSub,
    onvifUrl: c.onvifUrl,
    snapshotUrl: c.snapshotUrl,
    endpoint: c.endpoint,
    main: c.main,
    sub: c.sub,
  };
}

const resolutionBody = z.object({ width: z.number().int(), height: z.number().int() });
const eventBody = z.object({ type: z.enum(["motion", "input"]), state: z.boolean() });
const secondsBody = z.object({ seconds: z.number().min(-3600).max(3600) });
const rateBody = z.object({ rate: z.number().min(0.5).max(1) });
const activityBody = z.object({
  windows: z.array(z.object({ fromMs: z.number().int(), toMs: z.number().int() })).min(1).max(1000),
  onvifMotion: z.boolean().optional(),
});
const restartBody = z.object({ delayMs: z.number().int().min(0).max(600_000).optional() });

export function startControl(sim: Camsim, host: string, port: number, log: Logger): { url: string; stop(): Promise<void> } {
  const app = new Hono();
  app.onError(onProblem(log));
  app.notFound(onNotFound);

  // CamsimError carries its own status; turn it into problem+json.
  const run = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      const err = e as Error & { status?: number };
      if (err.name === "CamsimError") {
        if (err.status === 404) throw notFound(err.message);
        throw badRequest(err.message);
      }
      throw e;
    }
  };
  const cam = (id: string) => run(() => sim.camera(id));

  app.get("/cameras", (c) => c.json({ cameras: sim.cameras.map(view), rtspPort: sim.rtspPort, discoveryPort: sim.discoveryPort, user: sim.user }));
  app.get("/cameras/:id", async (c) => c.json(view(await cam(c.req.param("id")))));
  for (const action of ["stop", "start", "stall", "resume"] as const) {
    app.post(`/cameras/:id/${action}`, async (c) => {
      const id = c.req.param("id");
      await cam(id);
      await run(() => sim[action](id));
      return c.json(view(sim.camera(id)));
    });
  }
  app.post("/cameras/:id/restart", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const text = await c.req.text();
    let body: { delayMs?: number } = {};
    if (text.trim()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw badRequest(`Malformed JSON body: ${(e as Error).message}`);
      }
      const r = restartBody.safeParse(parsed);
      if (!r.success) throw badRequest(`delayMs: ${r.error.issues[0]!.message}`);
      body = r.data;
    }
    await run(() => sim.restart(id, body.delayMs));
    return c.json(view(sim.camera(id)));
  });
  app.post("/cameras/:id/resolution", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const { width, height } = await readJson(c, resolutionBody);
    await run(() => sim.setResolution(id, width, height));
    return c.json(view(sim.camera(id)));
  });
  // Clock faults: RTP timestamps jump; the media clock runs slow or fast; the host clock steps.
  app.post("/cameras/:id/jump", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const { seconds } = await readJson(c, secondsBody);
    await run(() => sim.jump(id, seconds));
    return c.json(view(sim.camera(id)));
  });
  app.post("/cameras/:id/clock-rate", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const { rate } = await readJson(c, rateBody);
    await run(() => sim.setClockRate(id, rate));
    return c.json(view(sim.camera(id)));
  });
  app.post("/cameras/:id/clock-step", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const { seconds } = await readJson(c, secondsBody);
    await run(() => sim.clockStep(id, seconds));
    return c.json(view(sim.camera(id)));
  });
  app.post("/cameras/:id/events", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const ev = await readJson(c, eventBody);
    await run(() => sim.emitEvent(id, ev));
    return c.json({ ok: true, camera: id, ...ev });
  });

  // Scripted activity: a moving block at set times (and ONVIF motion for them if asked).
  app.post("/cameras/:id/activity", async (c) => {
    const id = c.req.param("id");
    await cam(id);
    const body = await readJson(c, activityBody);
    await run(() => sim.scheduleActivity(id, body.windows, { onvifMotion: body.onvifMotion ?? false }));
    return c.json({ ok: true, camera: id, windows: body.windows.length });
  });

  let server: ReturnType<typeof Bun.serve>;
  try {
    // restart holds the request for its delay; allow for it.
    server = Bun.serve({ hostname: host, port, fetch: app.fetch, idleTimeout: 120 });
  } catch (e) {
    throw new Error(`camsim control endpoint cannot listen on ${host}:${port}: ${(e as Error).message}`);
  }
  return { url: `http://${host}:${server.port}`, stop: () => server.stop(true) };
}
