/** The "Advanced" raw-JSON view shared by the forms: the same body the form saves, editable as text. */
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

export const csv = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
