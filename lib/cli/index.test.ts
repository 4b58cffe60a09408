/**
 * untilSignal: a process asked to stop twice (systemd signals the whole service, the firmware
 * launcher forwards SIGTERM to its slot child) finishes its clean shutdown.
 */
import { expect, test } from "bun:test";
import path from "node:path";

const MODULE = path.join(import.meta.dir, "index.ts");

async function stopTwice(first: string, second: string) {
  const script = `import { untilSignal } from ${JSON.stringify(MODULE)};\nconst stop = untilSignal();\nconsole.log("ready");\nawait stop;\nawait Bun.sleep(300);\nconsole.log("closed cleanly");\n`;
  const p = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const reader = p.stdout.getReader();
  let out = new TextDecoder().decode((await reader.read()).value);
  expect(out).toContain("ready");
  p.kill(first as NodeJS.Signals);
  await Bun.sleep(50);
  p.kill(second as NodeJS.Signals);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  return { out, code: await p.exited };
}

test("SIGTERM twice (service stop + launcher forwarding): the shutdown completes", async () => {
  const r = await stopTwice("SIGTERM", "SIGTERM");
  expect(r).toMatchObject({ code: 0 });
  expect(r.out).toContain("closed cleanly");
});

test("SIGINT twice (an operator pressing Ctrl-C again): the process ends at once", async () => {
  const r = await stopTwice("SIGINT", "SIGINT");
  expect(r.code).toBe(130);
  expect(r.out).not.toContain("closed cleanly");
});
