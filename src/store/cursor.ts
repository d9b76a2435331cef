import { ValidationError } from "../common/index.js";

/** Keyset cursor over (created_at, run_id), newest first: stable while runs are added. */
export interface RunCursor {
  createdAt: number;
  runId: string;
}

export function encodeCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.runId])).toString("base64url");
}

export function decodeCursor(text: string): RunCursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === "number" &&
      typeof value[1] === "string"
    ) {
      return { createdAt: value[0], runId: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError(
    "INVALID_CURSOR",
    `cursor ${JSON.stringify(text)} is not one this server gave out`,
  );
}
