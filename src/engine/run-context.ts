import {
  BatonError,
  RunStatus,
  ValidationError,
  assertEventId,
  assertUserTopic,
  emittedEventId,
  findNonJson,
  toBatonError,
  isTerminal,
  isValidRunId,
  newUuid,
  type Logger,
  type OpKind,
} from "../common/index.js";
import type {
  ChildOptions,
  EmitOptions,
  StepInfo,
  StepOptions,
  WaitForEventOptions,
  WorkflowContext,
} from "./context.js";
import { beginEventWait } from "./event-wait.js";
import {
  isServiceDefinition,
  isWorkflowDefinition,
  type AnyWorkflow,
  type ServiceDefinition,
  type WorkflowDefinition,
} from "./definitions.js";
import { runAttempts, type AttemptAbort } from "./attempts.js";
import { completeChild, newChildRun } from "./child-run.js";
import type { Op } from "./op.js";
import { applyPatch } from "./patches.js";
import type { RunPort } from "./run-port.js";
import { resolveRetry } from "./retry.js";
import { startQueuedCall } from "./queued-call.js";
import type { Span } from "./tracing.js";
import { validateInput } from "./validate-input.js";

/** A promise that never settles: what an operation returns once its run is parked. */
const NEVER = new Promise<never>(() => {});

/** The ctx a workflow function receives; every method journals through the run's execution. */
export class RunContext implements WorkflowContext {
  readonly runId: string;
  readonly workflow: string;
  private logger: Logger | undefined;
  /** What `patched` answered in this run, by patch id; made on first use. */
  private patches: Map<string, boolean> | undefined;

  constructor(
    private readonly run: RunPort,
    private readonly runLogger: () => Logger,
  ) {
    this.runId = run.runId;
    this.workflow = run.workflow;
  }

  /** A logger bound to the run, silent while it replays; made on first use. */
  get log(): Logger {
    return (this.logger ??= replayAwareLogger(this.runLogger(), () => this.run.isReplaying));
  }

  step<T>(
    name: string,
    fn: (info: StepInfo) => T | Promise<T>,
    options: StepOptions<T> = {},
  ): Promise<T> {
    if (typeof name !== "string" || name.length === 0) return rejectUsage("ctx.step needs a name");
    if (typeof fn !== "function")
      return rejectUsage(`ctx.step ${name}: the second argument must be a function`);
    return this.runOp("step", name, options, (op, attempt, abort) =>
      fn({
        runId: this.runId,
        seq: op.seq,
        attempt,
        idempotencyKey: this.run.idempotencyKey(op.seq),
        get signal() {
          return abort.signal;
        },
      }),
    );
  }

  call<T = unknown>(
    service: ServiceDefinition | string,
    command: string,
    input?: unknown,
    options: StepOptions<T> = {},
  ): Promise<T> {
    const serviceName = isServiceDefinition(service) ? service.name : service;
    const transport = this.run.hostRef.findTransport(serviceName);
    if (!transport) {
      return Promise.reject(
        new BatonError(
          "SERVICE_NOT_FOUND",
          `run ${this.runId}: service ${String(serviceName)} is not registered`,
        ),
      );
    }
    const problem = findNonJson(input, "input");
    if (problem && input !== undefined)
      return rejectUsage(`ctx.call ${serviceName}.${command}: ${problem}`);
    if (transport.kind === "queue") {
      const created = this.run.newOp("call", `${serviceName}.${command}`);
      if (!created) return NEVER;
      const { op, promise } = created;
      registerCompensation(op, options);
      const policy = resolveRetry(this.run.definitionOptions.retry, options.retry);
      const timeoutMs = options.timeout ?? this.run.definitionOptions.timeout;
      this.run.schedule(op, () =>
        startQueuedCall(this.run, op, {
          service: serviceName,
          command,
          input,
          transport,
          policy,
          timeoutMs,
          queueTimeoutMs: options.queueTimeout,
        }),
      );
      return promise as Promise<T>;
    }
    const host = this.run.hostRef;
    const call = async (op: Op, attempt: number, abort: AttemptAbort, span: Span) => {
      const startedAt = host.clock.now();
      host.trackCall(serviceName, 1);
      let ok = false;
      try {
        const output = await transport.send({
          service: serviceName,
          command,
          input,
          runId: this.runId,
          workflow: this.workflow,
          seq: op.seq,
          attempt,
          idempotencyKey: this.run.idempotencyKey(op.seq),
          get signal() {
            return abort.signal;
          },
          traceparent: this.run.trace.traceparentOf(span, op.seq, attempt),
          span,
          ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
        });
        ok = true;
        host.fault("after-command-sent", this.runId);
        return output;
      } finally {
        host.trackCall(serviceName, -1);
        host.recordCall(serviceName, ok, host.clock.now() - startedAt);
      }
    };
    // A command sent to another process is a client span; a local handler's is not.
    return this.runOp(
      "call",
      `${serviceName}.${command}`,
      options,
      call,
      transport.kind !== "local",
    );
  }

  private runOp<T>(
    kind: "step" | "call",
    name: string,
    options: StepOptions<T>,
    body: (op: Op, attempt: number, abort: AttemptAbort, span: Span) => unknown,
    client = false,
  ): Promise<T> {
    const created = this.run.newOp(kind, name);
    if (!created) return NEVER;
    const { op, promise } = created;
    registerCompensation(op, options);
    const defaults = this.run.definitionOptions;
    const policy = resolveRetry(defaults.retry, options.retry);
    const timeout = options.timeout ?? defaults.timeout;
    this.run.schedule(
      op,
      () =>
        void runAttempts(
          this.run,
          op,
          policy,
          timeout,
          (attempt, abort, span) => body(op, attempt, abort, span),
          client,
        ),
    );
    return promise as Promise<T>;
  }

  sleep(ms: number): Promise<void> {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      return rejectUsage(`ctx.sleep needs a duration in ms, got ${String(ms)}`);
    }
    const created = this.run.newOp("sleep", "sleep");
    if (!created) return NEVER;
    const { op, promise } = created;
    let fireAt = op.recorded?.entries.find((e) => e.event === "started")?.data.fireAt;
    if (fireAt === undefined) {
      fireAt = this.run.hostRef.clock.now() + ms;
      this.run.appendOp(op, "started", { fireAt });
    }
    const at = fireAt;
    op.wait = { kind: "timer", until: at };
    this.run.schedule(op, () =>
      this.run.armTimer(op, at, { kind: "timer" }, () => this.run.complete(op, "completed", {})),
    );
    return promise as Promise<void>;
  }

  waitForSignal<T = unknown>(name: string, options: { timeout?: number } = {}): Promise<T> {
    if (typeof name !== "string" || name.length === 0)
      return rejectUsage("ctx.waitForSignal needs a signal name");
    const timeout = options.timeout;
    if (timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
      return rejectUsage(`ctx.waitForSignal ${name}: timeout must be a duration in ms`);
    }
    const created = this.run.newOp("signal", name);
    if (!created) return NEVER;
    const { op, promise } = created;
    op.signalName = name;
    const awaited = op.recorded?.entries.find((e) => e.event === "awaited");
    let timeoutAt = awaited?.data.timeoutAt;
    if (!awaited) {
      timeoutAt = timeout === undefined ? undefined : this.run.hostRef.clock.now() + timeout;
      this.run.appendOp(op, "awaited", timeoutAt === undefined ? {} : { timeoutAt });
    }
    op.wait = timeoutAt === undefined ? { kind: "signal" } : { kind: "signal", until: timeoutAt };
    this.run.schedule(op, () => {
      if (this.run.consumeSignal(op)) return;
      if (timeoutAt === undefined) return;
      this.run.armTimer(op, timeoutAt, { kind: "signal" }, () =>
        this.run.complete(op, "failed", {
          error: {
            code: "SIGNAL_TIMEOUT",
            message: `no signal "${name}" within ${timeout ?? "the"} ms`,
          },
        }),
      );
    });
    return promise as Promise<T>;
  }

  emit(topic: string, data?: unknown, options: EmitOptions = {}): Promise<{ id: string }> {
    try {
      assertUserTopic(topic);
      if (options.id !== undefined) assertEventId(options.id);
    } catch (e) {
      return Promise.reject(e);
    }
    const problem = data === undefined ? undefined : findNonJson(data, "data");
    if (problem) return rejectUsage(`ctx.emit ${topic}: ${problem}`);
    const created = this.run.newOp("emit", topic);
    if (!created) return NEVER;
    const { op, promise } = created;
    this.run.schedule(op, () => {
      const id = options.id ?? emittedEventId(this.runId, op.seq);
      const encoded = data === undefined ? null : JSON.stringify(data);
      const host = this.run.hostRef;
      try {
        // Trigger runs, the event and the entry that records it go in one write: a crash
        // before it leaves none of them, and a replay after it returns the recorded id.
        for (const run of host.triggerRuns({ topic, id, data }, encoded)) this.run.addChild(run);
      } catch (e) {
        this.run.complete(op, "failed", { error: toBatonError(e).toJSON() });
        return;
      }
      this.run.addEvent({
        type: topic,
        eventId: id,
        runId: this.runId,
        workflow: this.workflow,
        status: RunStatus.Running,
        data: encoded,
        at: host.clock.now(),
      });
      this.run.complete(op, "completed", { output: { id } });
    });
    return promise as Promise<{ id: string }>;
  }

  waitForEvent<T = unknown>(topic: string, options: WaitForEventOptions = {}): Promise<T> {
    try {
      assertUserTopic(topic);
    } catch (e) {
      return Promise.reject(e);
    }
    const { where, timeout } = options;
    if (timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
      return rejectUsage(`ctx.waitForEvent ${topic}: timeout must be a duration in ms`);
    }
    if (
      where !== undefined &&
      (typeof where !== "object" || where === null || Array.isArray(where))
    ) {
      return rejectUsage(`ctx.waitForEvent ${topic}: where must be an object of field values`);
    }
    const problem = where === undefined ? undefined : findNonJson(where, "where");
    if (problem) return rejectUsage(`ctx.waitForEvent ${topic}: ${problem}`);
    const created = this.run.newOp("event", topic);
    if (!created) return NEVER;
    const { op, promise } = created;
    const awaited = op.recorded?.entries.find((e) => e.event === "awaited");
    const timeoutAt = awaited
      ? awaited.data.timeoutAt
      : timeout === undefined
        ? undefined
        : this.run.hostRef.clock.now() + timeout;
    op.eventWait = {
      topic,
      // The journaled where is what the wait began with; replay must not change what it matches.
      where: awaited ? awaited.data.where : where,
      after: awaited?.data.after ?? -1,
      checking: false,
      checkAgain: false,
    };
    op.wait = timeoutAt === undefined ? { kind: "event" } : { kind: "event", until: timeoutAt };
    const described = where ? `${topic} where ${JSON.stringify(where)}` : topic;
    this.run.schedule(
      op,
      () =>
        void beginEventWait(this.run, op, timeoutAt, () =>
          this.run.complete(op, "failed", {
            error: {
              code: "EVENT_TIMEOUT",
              message: `no event ${described} within ${timeout ?? "the"} ms`,
            },
          }),
        ),
    );
    return promise as Promise<T>;
  }

  child<O = unknown>(
    workflow: AnyWorkflow | WorkflowDefinition<never, O> | string,
    input?: unknown,
    options: ChildOptions = {},
  ): Promise<O> {
    const name: string = isWorkflowDefinition(workflow) ? workflow.name : (workflow as string);
    const definition = this.run.hostRef.findWorkflow(name);
    if (!definition) {
      return Promise.reject(
        new BatonError(
          "WORKFLOW_NOT_FOUND",
          `run ${this.runId}: workflow ${String(name)} is not registered`,
        ),
      );
    }
    if (options.runId !== undefined && !isValidRunId(options.runId)) {
      return Promise.reject(
        new ValidationError(
          "INVALID_RUN_ID",
          `ctx.child ${name}: run id ${JSON.stringify(options.runId)} is invalid`,
        ),
      );
    }
    try {
      validateInput(definition, input);
    } catch (e) {
      return Promise.reject(e);
    }
    const created = this.run.newOp("child", name);
    if (!created) return NEVER;
    const { op, promise } = created;
    const started = op.recorded?.entries.find((e) => e.event === "started");
    let childRunId = started?.data.childRunId;
    if (childRunId === undefined) {
      childRunId = options.runId ?? childRunIdFor(this.runId, op.seq);
      this.run.appendOp(op, "started", { childRunId, workflow: name });
      this.run.addChild(newChildRun(this.run, op.seq, childRunId, name, definition.version, input));
    }
    op.childRunId = childRunId;
    op.wait = { kind: "child" };
    const id = childRunId;
    this.run.schedule(op, () => {
      // A running child is in flight: a rollback cancels it and waits for its end.
      this.run.markInFlight(op, true);
      // The child may have ended while this run was away: look once, then wait to be told.
      void this.run.durable().then(async (ok) => {
        if (!ok) return;
        const child = await this.run.hostRef.findRun(id);
        if (child && isTerminal(child.status)) completeChild(this.run, op, child);
      });
    });
    return promise as Promise<O>;
  }

  now(): number {
    return this.record("now", () => this.run.hostRef.clock.now()) as number;
  }

  random(): number {
    return this.record("random", () => Math.random()) as number;
  }

  uuid(): string {
    return this.record("uuid", () => newUuid()) as string;
  }

  patched(id: string): boolean {
    return applyPatch(this.run, (this.patches ??= new Map<string, boolean>()), id, false);
  }

  deprecatePatch(id: string): void {
    applyPatch(this.run, (this.patches ??= new Map<string, boolean>()), id, true);
  }

  private record(kind: OpKind, produce: () => unknown): unknown {
    const created = this.run.newOp(kind, kind);
    if (!created)
      throw new BatonError(
        "NON_DETERMINISM",
        `run ${this.runId}: ${kind}() does not match the journal`,
      );
    const { op } = created;
    const recorded = op.recorded?.entries.find((e) => e.event === "recorded");
    op.settled = true;
    this.run.forget(op);
    if (recorded) return recorded.data.value;
    const value = produce();
    this.run.appendOp(op, "recorded", { value });
    return value;
  }
}

function registerCompensation(op: Op, options: StepOptions<never>): void {
  if (!options.compensate) return;
  op.compensate = options.compensate as (output: unknown) => Promise<unknown>;
  if (options.compensateUnknown) op.compensateUnknown = true;
  if (options.onCompensationFailure) op.onCompensationFailure = options.onCompensationFailure;
}

function childRunIdFor(parentRunId: string, seq: number): string {
  const suffix = `:${seq}`;
  return parentRunId.slice(0, 200 - suffix.length) + suffix;
}

function rejectUsage(message: string): Promise<never> {
  return Promise.reject(new ValidationError("INVALID_ARGUMENT", message));
}

/** Logs only when the run is not replaying, so each line appears once however often it replays. */
function replayAwareLogger(logger: Logger, isReplaying: () => boolean): Logger {
  const gate =
    (level: "debug" | "info" | "warn" | "error") =>
    (obj: object, msg?: string): void => {
      if (!isReplaying()) logger[level](obj, msg);
    };
  return {
    debug: gate("debug"),
    info: gate("info"),
    warn: gate("warn"),
    error: gate("error"),
    child: (bindings) => replayAwareLogger(logger.child(bindings), isReplaying),
  };
}
