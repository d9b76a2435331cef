import { useState } from "react";
import { useToasts } from "../components/toasts.js";
import { describeError } from "./api.js";

/**
 * An operator's request to a run (cancel, retry, skip…): busy while it is sent, then told in a
 * message — what happens next on success, the server's reason on a refusal. `onDone` runs after
 * a success (close the dialog, follow the run again).
 */
export function useRunAction(onDone: () => void): {
  isBusy: boolean;
  act: (what: string, action: () => Promise<void>, done: string) => Promise<void>;
} {
  const toasts = useToasts();
  const [isBusy, setBusy] = useState(false);
  const act = async (what: string, action: () => Promise<void>, done: string): Promise<void> => {
    setBusy(true);
    try {
      await action();
      toasts.show("success", done);
      onDone();
    } catch (e) {
      toasts.show("error", `Could not ${what}: ${describeError(e)}`);
    } finally {
      setBusy(false);
    }
  };
  return { isBusy, act };
}
