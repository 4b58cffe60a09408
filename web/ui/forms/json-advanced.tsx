/** The "Advanced" raw-JSON view shared by the forms: the same body the form saves, editable as text. */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

/**
 * Tabs "Form" / "Advanced (JSON)". Switching to JSON shows `toJson()`; switching back parses the
 * text with `fromJson` (which throws a sentence) and stays on JSON when it cannot be read.
 */
export function useAdvanced(toJson: () => unknown, fromJson: (v: unknown) => void) {
  const [mode, setMode] = useState<"form" | "json">("form");
  const [text, setText] = useState("");
  const [jsonErr, setJsonErr] = useState<string | null>(null);
  const toForm = (): boolean => {
    try {
      fromJson(JSON.parse(text));
    } catch (x) {
      setJsonErr(x instanceof SyntaxError ? `The text is not valid JSON: ${x.message}` : (x as Error).message);
      return false;
    }
    setJsonErr(null);
    setMode("form");
    return true;
  };
  const toJsonMode = () => {
    setText(JSON.stringify(toJson(), null, 2));
    setJsonErr(null);
    setMode("json");
  };
  const tabs = (
    <div class="form-row" role="tablist" aria-label="Editor">
      <button type="button" role="tab" aria-selected={mode === "form"} class={mode === "form" ? "primary" : ""} onClick={() => mode === "json" && toForm()}>
        Form
      </button>
      <button type="button" role="tab" aria-selected={mode === "json"} class={mode === "json" ? "primary" : ""} onClick={() => mode === "form" && toJsonMode()}>
        Advanced (JSON)
      </button>
    </div>
  );
  const editor = (
    <label>
      JSON (saved through the same API and schema as the form)
      <textarea rows={16} class="mono" aria-label="JSON" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      {jsonErr && (
        <span class="field-error" role="alert">
          {jsonErr}
        </span>
      )}
    </label>
  );
  /** The body to save: parsed from the text in JSON mode (null + message when it cannot be read). */
  const jsonBody = (): unknown => {
    try {
      return JSON.parse(text);
    } catch (x) {
      setJsonErr(`The text is not valid JSON: ${(x as Error).message}`);
      return null;
    }
  };
  return { mode, tabs, editor, jsonBody };
}

/**
 * A form with the Form / Advanced (JSON) tabs: `head` (fields shown in both modes, e.g. the name),
 * then the form fields (`children`) or the JSON editor, the problems found in words, and Save.
 */
export function AdvancedForm(p: { label: string; adv: ReturnType<typeof useAdvanced>; onSubmit: (e: Event) => void; problems: string[]; saveLabel: string; head?: ComponentChildren; children: ComponentChildren }) {
  return (
    <form class="stack" onSubmit={p.onSubmit} aria-label={p.label} noValidate>
      {p.adv.tabs}
      {p.head}
      {p.adv.mode === "json" ? p.adv.editor : p.children}
      {p.problems.length > 0 && (
        <ul class="form-error" role="alert">
          {p.problems.map((x) => (
            <li key={x}>{x}</li>
          ))}
        </ul>
      )}
      <button class="primary" type="submit">
        {p.saveLabel}
      </button>
    </form>
  );
}

export const csv = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
