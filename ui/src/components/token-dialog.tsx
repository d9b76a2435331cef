import { useState } from "react";
import { Dialog } from "./dialog.js";

/** Asks for the API token once; the caller keeps it. */
export function TokenDialog({
  reason,
  onSubmit,
  onCancel,
}: {
  reason: string;
  onSubmit: (given: { token: string; remember: boolean }) => void;
  onCancel: () => void;
}) {
  const [token, setToken] = useState("");
  const [remember, setRemember] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  return (
    <Dialog
      title="API token"
      description={
        <p>
          {reason} It is the value of <code>BATON_API_TOKEN</code> (or <code>--token</code>) the
          server was started with. It is sent only to this server, as a bearer token.
        </p>
      }
      submitLabel="Continue"
      onSubmit={() => {
        const trimmed = token.trim();
        if (!trimmed) {
          setProblem("Enter the token.");
          return;
        }
        onSubmit({ token: trimmed, remember });
      }}
      onClose={onCancel}
    >
      <div className="field">
        <label htmlFor="token-input">Token</label>
        <input
          id="token-input"
          type="password"
          autoComplete="current-password"
          autoFocus
          value={token}
          aria-invalid={problem !== undefined}
          aria-describedby={problem ? "token-problem" : undefined}
          onChange={(event) => {
            setToken(event.target.value);
            setProblem(undefined);
          }}
        />
        {problem && (
          <p id="token-problem" className="field-problem">
            {problem}
          </p>
        )}
      </div>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={remember}
          onChange={(event) => setRemember(event.target.checked)}
        />
        Remember on this device (otherwise until this tab closes)
      </label>
    </Dialog>
  );
}
