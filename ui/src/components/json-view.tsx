import { memo, useMemo, useState, type ReactElement } from "react";
import { useToasts } from "./toasts.js";

/** Longer texts are cut until the user asks for all of it: a huge output must not freeze the page. */
const SHOWN_CHARS = 20_000;

const TOKEN =
  /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/** Pretty-printed JSON with its tokens coloured, and a copy button. */
export const JsonView = memo(function JsonView({
  value,
  label,
}: {
  value: unknown;
  label: string;
}) {
  const text = useMemo(() => JSON.stringify(value, null, 2) ?? "undefined", [value]);
  const [isFull, setFull] = useState(false);
  const toasts = useToasts();
  const shown = isFull ? text : text.slice(0, SHOWN_CHARS);
  const parts = useMemo(() => highlight(shown), [shown]);
  return (
    <div className="json">
      <div className="json-toolbar">
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            navigator.clipboard.writeText(text).then(
              () => toasts.show("success", `${label} copied`),
              () => toasts.show("error", `Could not copy: the browser refused the clipboard`),
            );
          }}
        >
          Copy {label.toLowerCase()}
        </button>
      </div>
      <pre className="json-body" aria-label={label} tabIndex={0}>
        {parts}
        {shown.length < text.length && "\n…"}
      </pre>
      {shown.length < text.length && (
        <button type="button" className="button button-small" onClick={() => setFull(true)}>
          Show all {Math.round(text.length / 1024)} KB
        </button>
      )}
    </div>
  );
});

function highlight(text: string): Array<string | ReactElement> {
  const parts: Array<string | ReactElement> = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const index = match.index;
    if (index > last) parts.push(text.slice(last, index));
    const [whole, string, colon, keyword, number] = match;
    if (string !== undefined) {
      parts.push(
        <span key={index} className={colon ? "json-key" : "json-string"}>
          {string}
        </span>,
      );
      if (colon) parts.push(colon);
    } else if (keyword !== undefined) {
      parts.push(
        <span key={index} className={keyword === "null" ? "json-null" : "json-boolean"}>
          {keyword}
        </span>,
      );
    } else if (number !== undefined) {
      parts.push(
        <span key={index} className="json-number">
          {number}
        </span>,
      );
    }
    last = index + whole.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
