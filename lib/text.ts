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
