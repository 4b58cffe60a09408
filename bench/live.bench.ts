/**
 * Live benchmark (issue 6): camsim → edge → proxy → central → WebSocket viewers, one process
 * for edge+central (+ viewers in a child process). Reports:
 *  - relay latency per fragment: viewer arrival − edge capture (ingest split time); the camera →
 *    ingest part is the same as reading the camera's RTSP directly (same pipeline), so this is
 *    the added latency over that floor;
 *  - open → first fragment (cold: no uplink yet) on loopback (no link shaping);
 *  - CPU and RSS of this process with 10 cameras (sub): idle, 10 uplinks + 10 viewers, + 100 viewers.
 * Run: bun bench/live.bench.ts
 */
import "reflect-metadata";
import { startLiveRig, untilRecording } from "../central/live/testkit.ts";
import { TestViewer } from "../central/live/viewer.ts";
import { parseFragment } from "../lib/mp4/index.ts";

const CAMS = Number(process.env.CAMS ?? 10);
const clk = 100;
const cpu = async (ms: number) => {
  const read = async () => {
    const st = (await Bun.file(`/proc/${process.pid}/stat`).text()).split(") ")[1]!.split(" ");
    return Number(st[11]) + Number(st[12]);
  };
  const a = await read();
  await Bun.sleep(ms);
  const b = await read();
  const rss = Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${process.pid}/status`).text())![1]) / 1024;
  return { cpuPct: Math.round(((b - a) / clk / (ms / 1000)) * 1000) / 10, rssMB: Math.round(rss) };
};
const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

const rig = await startLiveRig({ cameras: CAMS, streams: ["sub"], sub: { width: 320, height: 180, bitrateKbps: 150 } });
try {
  await untilRecording(rig.edge, 60_000);
  const site = rig.identity.siteId;
  const ws = rig.central.apiUrl.replace(/^http/, "ws");
  const idle = await cpu(5000);

  // open → first fragment, cold, per camera (stagger)
  const firsts: number[] = [];
  const viewers: TestViewer[] = [];
  const lat: number[] = [];
  for (let i = 1; i <= CAMS; i++) {
    const t0 = performance.now();
    const v = new TestViewer(`${ws}/api/v1/cameras/${site}.cam${i}/live`, rig.token);
    viewers.push(v);
    await new Promise<void>((r) => {
      const iv = setInterval(() => {
        if (v.fragments > 0) {
          clearInterval(iv);
          firsts.push(performance.now() - t0);
          r();
        }
      }, 5);
    });
  }
  // latency: listen on central hubs for capturedAt and compare with the viewer's arrival
  const hub = rig.live.hub(site, "cam1", "sub");
  const capturedBySeq = new Map<number, number>();
  hub.listen((e) => {
    if (e.type === "fragment") capturedBySeq.set(Math.round(e.fragment.startMs), e.fragment.capturedAt);
  });
  viewers[0]!.onFragment = (b) => {
    const init = hub.initSegment;
    if (!init) return;
    const f = parseFragment(b, init.info);
    const cap = capturedBySeq.get(Math.round(f.startMs));
    if (cap) lat.push(Date.now() - cap);
  };
  const ten = await cpu(10_000);
  const more: TestViewer[] = [];
  for (let i = 0; i < 90; i++) more.push(new TestViewer(`${ws}/api/v1/cameras/${site}.cam${(i % CAMS) + 1}/live`, rig.token));
  await Bun.sleep(3000);
  const hundred = await cpu(10_000);
  const ok = [...viewers, ...more].filter((v) => v.fragments > 3).length;
  console.log(
    JSON.stringify(
      {
        cameras: CAMS,
        openToFirstFragmentMs: { p50: Math.round(pct(firsts, 0.5)), max: Math.round(Math.max(...firsts)) },
        relayLatencyMs: { n: lat.length, p50: pct(lat, 0.5), p95: pct(lat, 0.95), max: Math.max(...lat) },
        process: { idle, uplinks10viewers10: ten, uplinks10viewers100: hundred },
        perUplinkCpuPct: Math.round(((ten.cpuPct - idle.cpuPct) / CAMS) * 100) / 100,
        perViewerCpuPct: Math.round(((hundred.cpuPct - ten.cpuPct) / 90) * 100) / 100,
        perViewerRssKB: Math.round(((hundred.rssMB - ten.rssMB) * 1024) / 90),
        viewersReceiving: ok,
        uplinkConnects: rig.edge.live.uplinks().reduce((a, u) => a + u.connects, 0),
      },
      null,
      1,
    ),
  );
  for (const v of [...viewers, ...more]) v.close();
} finally {
  await rig.close();
}
