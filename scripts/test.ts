export {};
/**
 * The whole test suite (README's test command; .ci/run calls it through `npm test`).
 * Runs bun test over unit tests (beside the code) and system tests (tests/), then prints the
 * plain closing line "N passed, N failed" that CI reads.
 */
const args = process.argv.slice(2);
// Files run in two worker processes: system tests mostly wait on cameras and sockets. The
// per-test timeout is generous because setup on a loaded 2-core machine is slow; tests assert
// behaviour, never speed.
const defaults = ["--timeout", "180000", "--parallel=2"];
const proc = Bun.spawn(["bun", "test", ...defaults, ...args], { stdout: "inherit", stderr: "pipe", env: { ...process.env, OUTPOST_LOG_LEVEL: process.env.OUTPOST_LOG_LEVEL ?? "warn" } });
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  const s = decoder.decode(chunk);
  process.stderr.write(s);
  tail = (tail + s).slice(-20000);
}
const code = await proc.exited;
const pass = Number(/^\s*(\d+) pass\b/m.exec(tail)?.[1] ?? 0);
const fail = Number(/^\s*(\d+) fail\b/m.exec(tail)?.[1] ?? 0);
const skip = Number(/^\s*(\d+) skip\b/m.exec(tail)?.[1] ?? 0);
console.log(`tests: ${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ""}`);
process.exit(code !== 0 ? code : fail > 0 || pass === 0 ? 1 : 0);
