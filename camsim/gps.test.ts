import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeTempDirs, tempDir } from "../tests/helpers.ts";

afterAll(removeTempDirs);

// Run in a child whose TMPDIR the test chooses: gpsfake inherits the environment of the process
// that starts it. Prints the first position gpsd sends a watching client (or "none" after 20 s),
// then whether the fake's own files are gone after stop().
const child = `
import { readdirSync } from "node:fs";
import { routeEpochs, startFakeGps, toNmea } from ${JSON.stringify(join(import.meta.dir, "gps.ts"))};
const ep = routeEpochs({ lat: 47.37, lon: 8.54 }, [{ to: { lat: 47.371, lon: 8.54 }, speedMps: 10 }]);
const gps = await startFakeGps({ nmea: toNmea(ep, Date.now()), file: process.env.ROUTE, cycleS: 0.05, loop: true });
let buf = "", pos;
const sock = await Bun.connect({ hostname: "127.0.0.1", port: gps.port, socket: {
  open(s) { s.write('?WATCH={"enable":true,"json":true};\\n'); },
  data(_s, chunk) {
    buf += chunk.toString();
    for (const line of buf.split("\\n").slice(0, -1)) {
      const o = JSON.parse(line);
      if (o.class === "TPV" && o.mode >= 2) pos ??= o.lat;
    }
    buf = buf.slice(buf.lastIndexOf("\\n") + 1);
  },
} });
for (let i = 0; i < 200 && pos === undefined; i++) await Bun.sleep(100);
sock.end();
await gps.stop();
const left = readdirSync(process.env.TMPDIR).filter((f) => !f.startsWith("gpsfake-") && f !== "route.nmea");
console.log(JSON.stringify({ lat: pos ?? "none", left }));
`;

test("a stale gpsfake control socket in TMPDIR (one for every pid) never stands in for the fake's own gpsd", async () => {
  // gpsd drops root before it exits and cannot remove its control socket, so a shared /tmp keeps
  // one per run, named $TMPDIR/gpsfake-<gpsfake's pid>.sock. A gpsfake that got a pid used before
  // took that file for its gpsd being ready, failed to connect to it and never added its receiver:
  // gpsd answered with no device and no position (seen in CI: none within 20 s, none in 90 s after
  // a restart; this machine's /tmp held 765 such files against 32,768 pids).
  const stale = await tempDir("gpsfake-stale");
  const pidMax = Math.min(Number(readFileSync("/proc/sys/kernel/pid_max", "utf8")), 1 << 16);
  for (let pid = 1; pid <= pidMax; pid++) writeFileSync(join(stale, `gpsfake-${pid}.sock`), "");
  const proc = Bun.spawn(["bun", "-e", child], { env: { ...process.env, TMPDIR: stale, ROUTE: join(stale, "route.nmea") }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { lat: number | "none"; left: string[] };
  expect(r, err).toEqual({ lat: expect.closeTo(47.37, 2) as unknown as number, left: [] });
}, 60_000);
