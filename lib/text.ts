/**
 * The one rule for text that comes in from outside (HTTP bodies and query strings, config
 * files, control-plane messages): printable Unicode, tabs and line breaks only. NUL, the other
 * C0/C1 control characters, DEL and unpaired surrogates are refused where they enter, with the
 * field named, instead of failing later in a database, a log line or a file name.
 */

// C0 except tab (09), line feed (0A) and carriage return (0D); DEL; C1.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** Why a string is not acceptable text, or null when it is. */
export function textProblem(s: string): string | null {
  const m = CONTROL.exec(s);
  if (m) return `contains the control character U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} at position ${m.index}; only printable text, tabs and line breaks are allowed`;
  if (!s.isWellFormed()) return "contains an unpaired UTF-16 surrogate (not valid Unicode text)";
  return null;
}

export interface TextIssue {
  /** Dotted path of the field ("body.locks.0.reason"); object keys are checked too. */
  path: string;
  message: string;
}

/** The first string (value or object key) anywhere in a JSON-like value that is not acceptable text. */
export function findBadText(v: unknown, path: (string | number)[] = []): TextIssue | null {
  if (typeof v === "string") {
    const p = textProblem(v);
    return p ? { path: path.join("."), message: p } : null;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findBadText(v[i], [...path, i]);
      if (r) return r;
    }
    return null;
  }
  if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      const kp = textProblem(k);
      if (kp) return { path: [...path, k].join("."), message: `the key ${kp}` };
      const r = findBadText(x, [...path, k]);
      if (r) return r;
    }
  }
  return null;
}

const CONTROL_ALL = new RegExp(CONTROL.source, "g");

/**
 * A copy of a JSON-like value whose strings and keys obey the text rule: forbidden characters
 * become U+FFFD. For text a process passes on from elsewhere (a camera's event payload, a log
 * line with terminal escapes) where dropping the whole record would lose more than it protects.
 */
export function toText<T>(v: T): { value: T; changed: boolean } {
  let changed = false;
  const fix = (s: string) => {
    const r = s.replace(CONTROL_ALL, "\uFFFD").toWellFormed();
    if (r !== s) changed = true;
    return r;
  };
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") return fix(x);
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, y]) => [fix(k), walk(y)]));
    return x;
  };
  const value = walk(v) as T;
  return { value, changed };
}
