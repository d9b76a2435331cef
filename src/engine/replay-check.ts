import {
  BatonError,
  decodeJson,
  silentLogger,
  type BatonEvent,
  type Clock,
  type NonDeterminismError,
  type OpKind,
  type TimerHandle,
} from "../common/index.js";
import type { JournalEntry, NewRun, RunRecord } from "../store/index.js";
import type { Transport } from "../transport/index.js";
import type { AnyWorkflow, WorkflowDefinition } from "./definitions.js";
import type { ExecutionHost, HostedRun } from "./host.js";
import { Entry } from "./journal.js";
import { RunExecution } from "./run-execution.js";
import { WorkflowVersions } from "./versions.js";

/** What replaying one run against the code says. */
export type ReplayVerdict =
  | { outcome: "matches" }
  | {
      outcome: "diverges";
      message: string;
      seq?: number;
      journal?: { kind: OpKind; name: string };
      code?: { kind: OpKind; name: string };
    }
  /** The code has no definition of the run's workflow version: it cannot run it at all. */
  | { outcome: "no_code"; message: string };

/** A run's terminal journal entries and the status each ends it with. */
const ENDS: Record<string, string> = {
  [Entry.RunCompleted]: "completed",
  [Entry.RunCompensated]: "compensated",
  [Entry.RunFailed]: "failed",
  [Entry.RunCancelled]: "cancelled",
};

/** The run replays to its last delivery, or diverges, well within this; past it, it is stuck. */
const REPLAY_TIMEOUT_MS = 30_000;

/**
 * The deploy gate's engine side (`baton replay-check`): replays runs' journals against workflow
 * code in replay-only mode — the run's execution is the engine's own (the same replay rules and
 * non-determinism checks), but nothing it does leaves it: no write (the committer refuses), no
 * service call (transports refuse, and no operation goes live), no timer (the clock never fires).
 */
export class ReplayChecker {
  private readonly versions: WorkflowVersions;

  constructor(workflows: readonly AnyWorkflow[]) {
    this.versions = new WorkflowVersions(workflows as readonly WorkflowDefinition[]);
  }

  /** Replays one run's journal; resolves with whether the code matches it. */
  check(record: RunRecord, journal: readonly JournalEntry[]): Promise<ReplayVerdict> {
    const definition = this.versions.find(record.workflow, record.version);
    if (!definition) {
      const registered = this.versions.versionsOf(record.workflow);
      return Promise.resolve({
        outcome: "no_code",
        message:
          registered.length === 0
            ? `workflow ${record.workflow} is not in the code`
            : `version ${record.version} of workflow ${record.workflow} is not in the code (it has ${registered.join(", ")})`,
      });
    }
    return new Promise<ReplayVerdict>((resolve) => {
      let execution: RunExecution | undefined;
      const timeout = setTimeout(() => {
        execution?.halt();
        resolve({
          outcome: "diverges",
          message: `replay did not reach the end of the journal within ${REPLAY_TIMEOUT_MS} ms`,
        });
      }, REPLAY_TIMEOUT_MS);
      const host = new ReplayOnlyHost(this.versions, (run, divergence) => {
        clearTimeout(timeout);
        resolve(verdict(record, journal, divergence, run === execution ? execution : undefined));
      });
      try {
        execution = new RunExecution(host, record, definition, journal, []);
        execution.start(decodeJson(record.input));
      } catch (e) {
        clearTimeout(timeout);
        resolve({ outcome: "diverges", message: `replay failed: ${toMessage(e)}` });
      }
    });
  }
}

function verdict(
  record: RunRecord,
  journal: readonly JournalEntry[],
  divergence: NonDeterminismError | undefined,
  execution: RunExecution | undefined,
): ReplayVerdict {
  if (divergence) {
    const details = (divergence.details ?? {}) as {
      seq?: number;
      journal?: { kind: OpKind; name: string };
      code?: { kind: OpKind; name: string };
    };
    return {
      outcome: "diverges",
      message: divergence.message,
      ...(details.seq !== undefined ? { seq: details.seq } : {}),
      ...(details.journal ? { journal: details.journal } : {}),
      ...(details.code ? { code: details.code } : {}),
    };
  }
  // A journal that ended the run must end it the same way: the code's last decision changed.
  const last = [...journal].reverse().find((e) => e.type in ENDS);
  if (last && execution) {
    const expected = ENDS[last.type];
    const ended = execution.terminal?.status;
    if (ended !== expected) {
      return {
        outcome: "diverges",
        message: `run ${record.runId}: the journal ends the run ${expected}, the code ${ended === undefined ? "does not end it there" : `ends it ${ended}`}`,
      };
    }
  }
  return { outcome: "matches" };
}

function toMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A clock whose timers never fire: a replay-only run arms none that matter. */
class FrozenClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimer(): TimerHandle {
    return { cancel: () => undefined };
  }
}

const refuse = (what: string): never => {
  throw new BatonError("INTERNAL", `replay-only: ${what} is not allowed`);
};

/** Any service, reached by nobody: the code may name it, no command is ever sent. */
const NO_TRANSPORT: Transport = {
  kind: "local",
  send: () => Promise.reject(new BatonError("INTERNAL", "replay-only: no service calls")),
};

/** The host of replay-only runs: reads nothing, writes nothing, sends nothing. */
class ReplayOnlyHost implements ExecutionHost {
  readonly clock = new FrozenClock();
  readonly logger = silentLogger;
  readonly committer = { markDirty: (): void => refuse("a journal write") };
  readonly replayAfterEveryOp = false;
  readonly nodeId = "replay-check";
  readonly hasListeners = false;

  constructor(
    private readonly versions: WorkflowVersions,
    readonly replayOnly: (run: HostedRun, divergence: NonDeterminismError | undefined) => void,
  ) {}

  findWorkflow(name: string): WorkflowDefinition | undefined {
    return this.versions.newest.get(name);
  }
  findTransport(): Transport {
    return NO_TRANSPORT;
  }
  findRun(): Promise<RunRecord | undefined> {
    return Promise.resolve(undefined);
  }
  findTask(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  findRunSignals(): Promise<[]> {
    return Promise.resolve([]);
  }
  onTasksQueued(): void {}
  onTasksWithdrawn(): void {}
  recordCall(): void {}
  trackCall(): void {}
  onTerminal(): void {}
  /** Runs kept forever: a replay-only run ends nothing that could expire. */
  retentionOf(): number {
    return 0;
  }
  onRunExpires(): void {}
  onIdle(): void {}
  onChildrenCreated(): void {}
  onLost(): void {}
  onReplayPoint(): void {}
  cancelRun(): void {}
  emit(_event: BatonEvent): void {}
  holdsLease(): boolean {
    return true;
  }
  /** A replay-only run starts no run: a trigger of an event it emits is not its replay's business. */
  triggerRuns(): NewRun[] {
    return [];
  }
  onUserEvents(): void {}
  readEvents(): Promise<BatonEvent[]> {
    return Promise.resolve([]);
  }
  lastEventPosition(): Promise<number> {
    return Promise.resolve(0);
  }
  fault(): void {}
}
