import {
  ROOT_CONTEXT,
  context,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import {
  formatTraceparent,
  parseTraceparent,
  spanIdOf,
  traceIdOf,
  type ErrorData,
} from "../common/index.js";

export { SpanKind, type Span } from "@opentelemetry/api";

const TRACER_NAME = "baton";
const INTERNAL: SpanOptions = { kind: SpanKind.INTERNAL };
const CLIENT: SpanOptions = { kind: SpanKind.CLIENT };

/**
 * The data of a run's `run.started` entry. The deadline and the caller's trace context are fixed
 * when the run starts, so replay and every node agree on them. Null when there is neither.
 */
export function runStartedData(
  deadlineAt: number | undefined,
  traceparent: string | undefined,
): string | null {
  const parent = parseTraceparent(traceparent);
  if (deadlineAt === undefined && !parent) return null;
  return JSON.stringify({
    ...(deadlineAt === undefined ? {} : { deadlineAt }),
    ...(parent
      ? { traceparent: formatTraceparent(parent.traceId, parent.spanId, parent.traceFlags) }
      : {}),
  });
}

/**
 * A run's spans, through the OpenTelemetry API only: with no SDK registered the API is a no-op
 * and nothing is recorded. Every span is a child of the run's parent — the `traceparent` the run
 * was started with, or else a span id derived from the run id in a trace derived from it — so a
 * run's spans share one trace on whichever node, after whichever restart, without a span that
 * would have to outlive a process.
 */
export class RunTrace {
  readonly traceId: string;
  readonly parentSpanId: string;
  readonly traceFlags: number;
  private tracer: Tracer | undefined;
  private parentContext: Context | undefined;
  private baseAttributes: Attributes | undefined;
  /** Spans that outlive one call of the driver (a queued call's, enqueue to reply), by seq. */
  private open: Map<number, Span> | undefined;

  constructor(
    private readonly runId: string,
    private readonly workflow: string,
    storedTraceparent: string | undefined,
  ) {
    const parent = parseTraceparent(storedTraceparent);
    this.traceId = parent?.traceId ?? traceIdOf(runId);
    this.parentSpanId = parent?.spanId ?? spanIdOf(`${runId}:run`);
    // A run started without trace context is sampled: its trace id is its own, not a caller's.
    this.traceFlags = parent ? parent.traceFlags : TraceFlags.SAMPLED;
  }

  /** The run's own parent context, handed on to its child runs so a tree of runs is one trace. */
  get traceparent(): string {
    return formatTraceparent(this.traceId, this.parentSpanId, this.traceFlags);
  }

  /** Starts a span of this run; `client` for a command sent to another process. */
  start(name: string, seq: number, attempt?: number, client = false): Span {
    this.tracer ??= trace.getTracer(TRACER_NAME);
    this.parentContext ??= trace.setSpanContext(ROOT_CONTEXT, {
      traceId: this.traceId,
      spanId: this.parentSpanId,
      traceFlags: this.traceFlags,
      isRemote: true,
    });
    const span = this.tracer.startSpan(name, client ? CLIENT : INTERNAL, this.parentContext);
    // Attributes only for a span that records: the no-op span of an unset SDK needs none.
    if (span.isRecording()) {
      this.baseAttributes ??= { "baton.run_id": this.runId, "baton.workflow": this.workflow };
      span.setAttributes(this.baseAttributes);
      span.setAttribute("baton.seq", seq);
      if (attempt !== undefined) span.setAttribute("baton.attempt", attempt);
    }
    return span;
  }

  /** A span for a moment: a timer that fired, a signal that was received. */
  mark(name: string, seq: number, attributes: Attributes): void {
    const span = this.start(name, seq);
    if (span.isRecording()) span.setAttributes(attributes);
    span.end();
  }

  /**
   * The `traceparent` a service receives for the command `span` covers: the span's own id. With
   * no SDK (the span is the run's parent again) it is an id fixed per seq and attempt, so a
   * service still tells attempts apart.
   */
  traceparentOf(span: Span, seq: number, attempt: number): string {
    const context = span.spanContext();
    if (context.spanId !== this.parentSpanId && context.traceId === this.traceId)
      return formatTraceparent(context.traceId, context.spanId, context.traceFlags);
    return formatTraceparent(
      this.traceId,
      spanIdOf(`${this.runId}:${seq}:${attempt}`),
      this.traceFlags,
    );
  }

  /** Keeps a span open beyond the current turn, until `close` or `closeAll`. */
  keep(seq: number, span: Span): void {
    (this.open ??= new Map()).set(seq, span);
  }

  /** Ends the span kept for `seq`, if any. */
  close(seq: number, error?: ErrorData, attempts?: number): void {
    const span = this.open?.get(seq);
    if (!span) return;
    this.open!.delete(seq);
    if (attempts !== undefined && span.isRecording()) span.setAttribute("baton.attempt", attempts);
    endSpan(span, error);
  }

  /**
   * The run leaves this process (shutdown, lost lease): end what is open, so it is exported. The
   * rest of such an operation is not traced; what a worker did for it still names this span.
   */
  closeAll(): void {
    if (!this.open) return;
    for (const span of this.open.values()) {
      if (span.isRecording()) span.setAttribute("baton.interrupted", true);
      span.end();
    }
    this.open.clear();
  }
}

/**
 * Runs `fn` with `span` as the active span, so spans a step makes itself (with a context manager
 * registered) nest under it; just runs it when the span does not record.
 */
export function runInSpan<T>(span: Span, fn: () => T): T {
  return span.isRecording() ? context.with(trace.setSpan(ROOT_CONTEXT, span), fn) : fn();
}

/** Ends `span`, marked failed with `error` if there is one. */
export function endSpan(span: Span, error?: ErrorData): void {
  if (error && span.isRecording()) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.code}: ${error.message}` });
    span.setAttribute("baton.error.code", error.code);
  }
  span.end();
}
