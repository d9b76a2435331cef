import { ValidationError } from "./errors.js";

// A run id is 1–200 characters of A–Z a–z 0–9 . _ - ~ : (safe in URLs and in idempotency keys).
const RUN_ID_PATTERN = /^[A-Za-z0-9._~:-]{1,200}$/;

export function isValidRunId(runId: unknown): runId is string {
  return typeof runId === "string" && RUN_ID_PATTERN.test(runId);
}

export function assertRunId(runId: unknown): string {
  if (!isValidRunId(runId)) {
    throw new ValidationError(
      "INVALID_RUN_ID",
      `run id ${JSON.stringify(runId)} is invalid: use 1–200 characters of A–Z a–z 0–9 . _ - ~ :`,
    );
  }
  return runId;
}

/** A fresh random UUID (v4), from the platform's Web Crypto. */
export function newUuid(): string {
  return globalThis.crypto.randomUUID();
}

/** A generated run id: sortable by creation time, unique without coordination. */
export function newRunId(nowMs: number): string {
  return `run-${nowMs.toString(36)}-${newUuid().slice(0, 13).replace("-", "")}`;
}

/** The key a service uses to make a command exactly-once in effect: `{runId}:{seq}`. */
export function idempotencyKey(runId: string, seq: number): string {
  return `${runId}:${seq}`;
}
