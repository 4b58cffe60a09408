/**
 * The SOAP reader against hostile XML: whatever arrives, parseSoap either returns the
 * operation or throws a SoapFault with a reason — never another error, never an expanded
 * entity, never a hang on huge or deeply nested input.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { MAX_DEPTH, MAX_REQUEST_BYTES, parseSoap, SoapFault, text } from "./soap.ts";

const env = (body: string, header = "") => `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;

/** parseSoap's outcome: the op, or the fault's subcode and reason; anything else fails the test. */
function outcome(xml: string): { op: string } | { fault: string; reason: string } {
  try {
    return { op: parseSoap(xml).op };
  } catch (e) {
    if (!(e instanceof SoapFault)) throw new Error(`parseSoap threw a non-fault: ${(e as Error).message}`);
    expect(e.message.length).toBeGreaterThan(5);
    return { fault: e.subcode, reason: e.message };
  }
}

describe("parseSoap", () => {
  test("reads the operation of real requests (prefixed, default namespace, self-closing)", () => {
    expect(outcome(env(`<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>`))).toEqual({ op: "GetDeviceInformation" });
    expect(outcome(env(`<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"></GetProfiles>`))).toEqual({ op: "GetProfiles" });
    const r = parseSoap(env(`<GetStreamUri><ProfileToken>a&amp;b&#x41;</ProfileToken></GetStreamUri>`));
    expect(text(r.body, "ProfileToken")).toBe("a&bA");
  });

  test("XXE and entity bombs are refused before anything is expanded", () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetStreamUri><ProfileToken>&e;</ProfileToken></GetStreamUri></s:Body></s:Envelope>`;
    expect(outcome(xxe)).toMatchObject({ fault: "ter:WellFormed", reason: expect.stringContaining("DTD") });
    const lol = `<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>` + env("<X>&b;</X>");
    expect(outcome(lol)).toMatchObject({ fault: "ter:WellFormed" });
    expect(outcome(env("<X>&undeclared;</X>"))).toMatchObject({ fault: "ter:WellFormed", reason: expect.stringContaining("entity") });
  });

  test("NUL, huge and deeply nested requests get clear faults", () => {
    expect(outcome(env("<GetProfiles>\u0000</GetProfiles>"))).toMatchObject({ fault: "ter:WellFormed", reason: expect.stringContaining("NUL") });
    expect(outcome(env(`<X>${"a".repeat(MAX_REQUEST_BYTES)}</X>`))).toMatchObject({ fault: "ter:InvalidArgVal", reason: expect.stringContaining("larger") });
    const deep = "<a>".repeat(MAX_DEPTH + 5) + "</a>".repeat(MAX_DEPTH + 5);
    expect(outcome(env(deep))).toMatchObject({ fault: "ter:WellFormed", reason: expect.stringContaining("nested") });
    expect(outcome("not xml at all")).toHaveProperty("fault");
    expect(outcome(env(""))).toMatchObject({ fault: "ter:InvalidArgVal", reason: expect.stringContaining("operation") });
    expect(outcome(env("<a><b></a></b>"))).toMatchObject({ fault: "ter:WellFormed" });
  });

  test("property: any string, and any mutation of a valid request, gives an op or a SoapFault", () => {
    const valid = env(`<tds:GetServices xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>`);
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 2000 }), (s) => {
        outcome(s);
      }),
      { numRuns: 2000 },
    );
    const hostile = fc.oneof(
      fc.constantFrom("<!DOCTYPE x>", "<!ENTITY e 'x'>", "&e;", "\u0000", "<", ">", "</s:Body>", "<s:Body>", "<![CDATA[", "]]>", "<!--", "-->", "<?pi", "?>", "&#0;", "&#x110000;", '"', "'", "<a:b:c>"),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.nat(valid.length), hostile, fc.nat(20), (at, ins, del) => {
        const mutated = valid.slice(0, at) + ins + valid.slice(at + del);
        const r = outcome(mutated);
        // Nothing hostile ever comes back as an operation name.
        if ("op" in r) expect(r.op).toMatch(/^[A-Za-z_][\w.-]*$/);
      }),
      { numRuns: 3000 },
    );
  });

  test("property: nesting of any depth and width is answered (no stack overflow)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 50 }), (depth, width) => {
        const inner = ("<a>".repeat(depth) + "</a>".repeat(depth)).repeat(Math.max(1, Math.floor(width / depth)));
        const r = outcome(env(`<Op>${inner}</Op>`));
        // Envelope, Body and Op hold the `depth` nested elements: the deepest is at depth + 3.
        if (depth + 3 > MAX_DEPTH) expect(r).toHaveProperty("fault");
        else expect(r).toEqual({ op: "Op" });
      }),
      { numRuns: 200, examples: [[61, 1], [62, 1]] },
    );
  });
});
