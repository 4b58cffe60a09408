import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { findBadText, textProblem, toText } from "./text.ts";

describe("text rule", () => {
  test("printable text, tabs and line breaks pass; NUL, controls, DEL, C1 and lone surrogates do not", () => {
    for (const ok of ["", "incident 42", "Zürich – 東京 🚌", "line 1\nline 2\r\n\tindented", "it's \"quoted\"; DROP TABLE x; --"]) expect(textProblem(ok)).toBeNull();
    expect(textProblem("a\u0000b")).toContain("U+0000 at position 1");
    for (const bad of ["\u0001", "\u001b[31m", "\u007f", "\u0085", "\u009f", "x\ud800", "\udc00y"]) expect(textProblem(bad)).not.toBeNull();
  });

  test("findBadText names the deepest field, including object keys", () => {
    expect(findBadText({ body: { locks: [{ reason: "ok" }, { reason: "bad\u0000" }] } })).toEqual({ path: "body.locks.1.reason", message: expect.stringContaining("U+0000") });
    expect(findBadText({ data: { "k\u0007": 1 } })?.path).toBe("data.k\u0007");
    expect(findBadText({ a: [1, true, null, "fine"] })).toBeNull();
  });

  test("property: a string is refused exactly when it holds a forbidden code unit", () => {
    const forbidden = (s: string) => [...s].some((ch) => { const c = ch.charCodeAt(0); return (c < 0x20 && c !== 9 && c !== 10 && c !== 13) || (c >= 0x7f && c <= 0x9f); }) || !s.isWellFormed();
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => (textProblem(s) !== null) === forbidden(s)), { numRuns: 2000 });
  });

  test("toText replaces what the rule forbids and says so; clean values pass unchanged", () => {
    expect(toText<unknown>({ msg: "\u001b[31mred\u001b[0m", "k\u0000": ["x\ud800", 5, null] })).toEqual({ value: { msg: "\uFFFD[31mred\uFFFD[0m", "k\uFFFD": ["x\uFFFD", 5, null] }, changed: true });
    expect(toText({ a: "fine\n", b: [1, true] })).toEqual({ value: { a: "fine\n", b: [1, true] }, changed: false });
    fc.assert(fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (v, s) => findBadText(toText({ v, s }).value) === null));
  });
});
