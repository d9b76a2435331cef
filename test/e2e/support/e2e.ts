/**
 * What the end-to-end tests under test/e2e share beside the demo's harness (test/demo/harness):
 * waiting for a run, reading the durable event log as a consumer would, and seeded randomness.
 */
import { join } from "node:path";
import { onTestFailed } from "vitest";
import {
  isTerminal,
  type BatonClient,
  type BatonEvent,
  type Run,
} from "../../../src/client/index.js";
import { REPO, eventually } from "../../demo/harness/processes.js";

export const ROLLBACK_WORKFLOWS = join(REPO, "test", "e2e", "fixtures", "rollback-workflows.ts");

/** Polls the run until `accept` says yes; the last state seen is in the timeout's message. */
export async function waitForRun(
  client: BatonClient,
  runId: string,
  what: string,
  accept: (run: Run) => boolean,
  timeoutMs = 30_000,
): Promise<Run> {
  let last: Run | undefined;
  try {
    return await eventually(
      `run ${runId} ${what}`,
      async () => {
        last = await client.getRun(runId);
        return accept(last) ? last : undefined;
      },
      timeoutMs,
      100,
    );
  } catch (e) {
    throw new Error(
      `${e instanceof Error ? e.message : String(e)}; last seen: ${JSON.stringify(
        last && { status: last.status, error: last.error, waitingOn: last.waitingOn },
      )}`,
    );
  }
}

export function waitForEnd(client: BatonClient, runId: string, timeoutMs = 30_000): Promise<Run> {
  return waitForRun(client, runId, "to end", (run) => isTerminal(run.status), timeoutMs);
}

/** An open `GET /v1/events` stream (SSE), read as a consumer would. */
export interface EventStream {
  /** The next event `accept` takes, reading on; rejects after `timeoutMs` or at the end. */
  find(accept: (event: BatonEvent) => boolean, timeoutMs?: number): Promise<BatonEvent>;
  close(): void;
}

/**
 * Opens `GET /v1/events?{query}`. Resolves once the server has answered with its headers, and
 * the server subscribes before it answers: an event published after this resolves is seen.
 */
export async function openEventStream(url: string, query: string): Promise<EventStream> {
  const abort = new AbortController();
  const response = await fetch(`${url}/v1/events?${query}`, {
    headers: { accept: "text/event-stream" },
    signal: abort.signal,
  });
  if (!response.ok || !response.body) {
    abort.abort();
    throw new Error(`GET /v1/events?${query} answered ${response.status}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const seen: string[] = [];
  const nextEvent = async (): Promise<BatonEvent> => {
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (!data) continue;
        seen.push(data);
        return JSON.parse(data) as BatonEvent;
      }
      const { done, value } = await reader.read();
      if (done) throw new Error("the event stream ended");
      buffer += decoder.decode(value as Uint8Array, { stream: true });
    }
  };
  return {
    async find(accept, timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no matching event within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        for (;;) {
          const event = await Promise.race([nextEvent(), timeout]);
          if (accept(event)) return event;
        }
      } catch (e) {
        abort.abort();
        throw new Error(`GET /v1/events?${query}: ${String(e)}; saw: ${seen.join(" | ")}`);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => abort.abort(),
  };
}

/**
 * The first event of the durable log (`GET /v1/events?topic=...&after=0`, SSE) that `accept`
 * takes, as a consumer that connects late reads it: from the beginning.
 */
export async function findDurableEvent(
  url: string,
  topic: string,
  accept: (event: BatonEvent) => boolean,
  timeoutMs = 15_000,
): Promise<BatonEvent> {
  const stream = await openEventStream(url, `topic=${encodeURIComponent(topic)}&after=0`);
  try {
    return await stream.find(accept, timeoutMs);
  } finally {
    stream.close();
  }
}

/**
 * The test's seed: `BATON_E2E_SEED` to replay a failure, else a fresh one. It is printed when a
 * test fails, so the failing draw can be run again.
 */
export function testSeed(): number {
  const given = process.env.BATON_E2E_SEED;
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed)) throw new Error(`BATON_E2E_SEED=${given} is not an integer`);
  return seed;
}

/** Call inside a test: prints the seed if the test fails. */
export function reportSeedOnFailure(seed: number): void {
  onTestFailed(() => {
    console.error(`\n  seed ${seed}: run again with BATON_E2E_SEED=${seed}\n`);
  });
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The journal as `type seq` lines, for assertions and failure messages. */
export async function journalOf(client: BatonClient, runId: string): Promise<string[]> {
  return (await client.history(runId)).map(
    (event) => `${event.type}${event.seq === undefined ? "" : ` ${event.seq}`}`,
  );
}
