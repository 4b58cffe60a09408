export {};
/**
 * The whole test suite (README's test command; .ci/run calls it through `npm test`).
 * Runs bun test over unit tests (beside the code) and system tests (tests/), then prints the
 * plain closing line "N passed, N failed" that CI reads.
 *
 * A few system tests drive real cameras, brokers and browsers for minutes; on a 2-core
 * machine running two such files at once they have failed now and then for want of CPU and
 * passed alone. So when at most MAX_RERUN_FILES files fail, each is run once more alone. A
 * file that passes then is reported as FLAKY (named on the closing line and in
 * test-artifacts/flaky.json — a defect to look at, not a pass to forget); one that fails again
 * fails the run. A test whose file cannot be found from its name is never retried.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MAX_RERUN_FILES = 3;
const args = process.argv.slice(2);
// Files run in two worker processes: system tests mostly wait on cameras and sockets. The
// per-test timeout is generous because setup on a loaded 2-core machine is slow; tests assert
// behaviour, never speed.
const timeout = ["--timeout", "180000"];
const env = { ...process.env, OUTPOST_LOG_LEVEL: process.env.OUTPOST_LOG_LEVEL ?? "warn" };

async function runBun(extra: string[]): Promise<{ code: number; pass: number; fail: number; skip: number; failed: string[] }> {
  const proc = Bun.spawn(["bun", "test", ...timeout, ...extra], { stdout: "inherit", stderr: "pipe", env });
  let tail = "";
  let line = "";
  // Every "(fail) a > b > test" line (bun repeats them in a closing summary), durations cut off.
  const failed = new Set<string>();
  const decoder = new TextDecoder();
  for await (const chunk of proc.stderr) {
    const s = decoder.decode(chunk);
    process.stderr.write(s);
    tail = (tail + s).slice(-20000);
    const lines = (line + s).split("\n");
    line = lines.pop()!;
    for (const l of lines) if (l.startsWith("(fail) ")) failed.add(l.slice(7).replace(/\s*\[[\d.]+m?s\]\s*$/, "").trim());
  }
  const code = await proc.exited;
  const num = (re: RegExp) => Number(re.exec(tail)?.[1] ?? 0);
  return { code, pass: num(/^\s*(\d+) pass\b/m), fail: num(/^\s*(\d+) fail\b/m), skip: num(/^\s*(\d+) skip\b/m), failed: [...failed] };
}

function testFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) testFiles(p, out);
    else if (/\.test\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The one file that names this test (its last title part, as written in the source), else null. */
function fileOf(title: string, files: string[]): string | null {
  const name = title.split(" > ").pop()!;
  const hits = files.filter((f) => {
    const src = readFileSync(f, "utf8");
    return src.includes(`"${name}"`) || src.includes(`'${name}'`) || src.includes(`\`${name}\``);
  });
  return hits.length === 1 ? hits[0]! : null;
}

const first = await runBun(["--parallel=2", ...args]);
let { pass, fail } = first;
const flaky: { file: string; tests: string[] }[] = [];
let failedAgain = false;
if (first.code !== 0 && first.fail > 0 && first.failed.length === first.fail) {
  const files = testFiles(".");
  const byFile = new Map<string, string[]>();
  for (const t of first.failed) {
    const f = fileOf(t, files);
    if (!f) {
      byFile.clear();
      console.error(`\nnot retried: cannot tell which file holds "${t}"`);
      break;
    }
    byFile.set(f, [...(byFile.get(f) ?? []), t]);
  }
  if (byFile.size > 0 && byFile.size <= MAX_RERUN_FILES) {
    for (const [file, tests] of byFile) {
      console.error(`\n=== ${tests.length} test(s) of ${file} failed in the full run; running the file once more, alone ===`);
      const again = await runBun([file]);
      if (again.code === 0 && again.fail === 0 && again.pass > 0) {
        flaky.push({ file, tests });
        fail -= tests.length;
        pass += tests.length;
      } else failedAgain = true;
    }
  } else failedAgain = true;
} else if (first.code !== 0) failedAgain = true;

if (flaky.length) {
  mkdirSync("test-artifacts", { recursive: true });
  writeFileSync("test-artifacts/flaky.json", JSON.stringify(flaky, null, 2));
  for (const f of flaky) for (const t of f.tests) console.error(`FLAKY (failed in the full run, passed alone): ${f.file}: ${t}`);
}
const flakyNote = flaky.length ? `, ${flaky.reduce((a, f) => a + f.tests.length, 0)} flaky (${flaky.map((f) => f.file).join(", ")})` : "";
console.log(`tests: ${pass} passed, ${fail} failed${first.skip ? `, ${first.skip} skipped` : ""}${flakyNote}`);
process.exit(failedAgain || fail > 0 || pass === 0 ? 1 : 0);
