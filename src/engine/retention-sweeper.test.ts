import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, type Logger } from "../common/index.js";
import { SqliteStore, type Store } from "../store/index.js";
import { RetentionSweeper } from "./retention-sweeper.js";

const T0 = Date.UTC(2026, 0, 1);

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (_: unknown, message?: string) => void warnings.push(message ?? ""),
    error: () => undefined,
    child: () => logger,
  };
  return logger;
}

async function storeWithExpiredRuns(count: number): Promise<Store> {
  const store = new SqliteStore({ path: ":memory:" });
  await store.migrate();
  for (let i = 0; i < count; i++) {
    const runId = `r-${i}`;
    await store.commit([
      {
        type: "createRun",
        run: {
          runId,
          workflow: "w",
          input: null,
          createdAt: T0,
          parentRunId: null,
          parentSeq: null,
          firstEntry: {
            position: 0,
            seq: null,
            type: "run.started",
            name: null,
            data: null,
            at: T0,
          },
        },
      },
      {
        type: "appendRun",
        runId,
        epoch: 0,
        expectedLength: 1,
        entries: [],
        update: {
          status: "completed",
          updatedAt: T0,
          wakeAt: null,
          waitingOn: null,
          deleteAfter: T0 + 1_000 + i,
        },
      },
    ]);
  }
  return store;
}

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe("RetentionSweeper", () => {
  it("deletes every due run in batches of its size, and counts the rows per table", async () => {
    store = await storeWithExpiredRuns(5);
    const clock = new ManualClock(T0 + 10_000);
    const sweeper = new RetentionSweeper(store, clock, recordingLogger(), { batchSize: 2 });
    await sweeper.sweepNow();
    expect((await store.listRuns({ limit: 10 })).runs).toEqual([]);
    expect(Object.fromEntries(sweeper.deleted)).toMatchObject({ runs: 5, journal: 5 });
    await sweeper.close();
  });

  it("sleeps until the earliest expiry it reads at start, then deletes", async () => {
    store = await storeWithExpiredRuns(1);
    const clock = new ManualClock(T0);
    const sweeper = new RetentionSweeper(store, clock, recordingLogger());
    await sweeper.start();
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(999);
    expect(await store.findRun("r-0")).toBeDefined();
    clock.advance(1);
    await sweeper.sweepNow(); // waits for the sweep the timer started
    expect(await store.findRun("r-0")).toBeUndefined();
    expect(clock.pendingTimers()).toBe(0); // nothing left to expire: no timer
    await sweeper.close();
  });

  it("survives a store fault: logs it and tries again a recheck later", async () => {
    const real = await storeWithExpiredRuns(1);
    store = real;
    let failures = 1;
    const flaky = new Proxy(real, {
      get(target, key, receiver) {
        if (key === "deleteExpiredRuns" && failures > 0) {
          failures--;
          return () => Promise.reject(new Error("database unreachable"));
        }
        const value = Reflect.get(target, key, receiver) as unknown;
        return typeof value === "function"
          ? (value as (...a: unknown[]) => unknown).bind(target)
          : value;
      },
    });
    const clock = new ManualClock(T0 + 10_000);
    const logger = recordingLogger();
    const sweeper = new RetentionSweeper(flaky, clock, logger, { recheckMs: 60_000 });
    await sweeper.sweepNow();
    expect(logger.warnings).toEqual(["retention: could not delete expired runs; retrying later"]);
    expect(await real.findRun("r-0")).toBeDefined();
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(60_000); // fires the retry, which sweeps
    await sweeper.close(); // waits for that sweep to end
    expect(await real.findRun("r-0")).toBeUndefined();
  });
});
