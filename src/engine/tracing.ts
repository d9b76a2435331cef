import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
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
  SPAN_ID_CONTEXT_KEY,
  formatTraceparent,
  parseTraceparent,
  spanIdOf,
  traceIdOf,
  type ErrorData,
} from "../common/index.js";

export type { Span } from "@opentelemetry/api";

const TRACER_NAME = "baton";
const INTERNAL: SpanOptions = { kind: SpanKind.INTERNAL };
const CLIENT: SpanOptions = { kind: SpanKind.CLIENT };
const RESUMED: Attributes = { "baton.resumed": true };
/** What every span is while no OpenTelemetry SDK is registered: nothing made, nothing kept. */
export const OFF: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether an OpenTelemetry SDK is registered. Without one the API hands out no-op spans, and a
 * run skips making them (and deriving ids for them) on every step: the hot path stays as cheap
 * as before tracing existed. An SDK must be registered before the runs it should trace start.
 */
export function isTracingOn(): boolean {
  const provider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return delegate !== NO_SDK;
}

/** A proxy with nothing registered hands out the API's own no-op provider, a singleton. */
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * The data of a run's `run.started` entry. The deadline and the caller's trace context are fixed
 * when the run starts, so replay and every node agree on them. Null when there is neither.
 */
export function runStartedData(
  deadlineAt: number | undefined,
  traceparent: string | undefined,
  version: number,
): string {
  const parent = parseTraceparent(traceparent);
  return JSON.stringify({
    version,
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
 * run's spans share one trace on whichever node, after whichever restart, and no run-wide span
 * has to outlive a process. Only a queued call's span may (see `startQueued`).
 */
export class RunTrace {
  readonly traceFlags: number;
  private readonly stored: { traceId: string; spanId: string } | undefined;
  private derived: { traceId: string; spanId: string } | undefined;
  private readonly on = isTracingOn();
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
    this.stored = parent && { traceId: parent.traceId, spanId: parent.spanId };
    // A run started without trace context is sampled: its trace id is its own, not a caller's.
    this.traceFlags = parent ? parent.traceFlags : TraceFlags.SAMPLED;
  }

  /** The run's trace: the caller's, or one derived from the run id (made only when asked for). */
  get traceId(): string {
    return this.ids().traceId;
  }

  /** The run's parent span: the caller's, or one derived from the run id. */
  get parentSpanId(): string {
    return this.ids().spanId;
  }

  private ids(): { traceId: string; spanId: string } {
    return (
      this.stored ??
      (this.derived ??= {
        traceId: traceIdOf(this.runId),
        spanId: spanIdOf(`${this.runId}:run`),
      })
    );
  }

  /** The run's own parent context, handed on to its child runs so a tree of runs is one trace. */
  get traceparent(): string {
    return formatTraceparent(this.traceId, this.parentSpanId, this.traceFlags);
  }

  /** Starts a span of this run; `client` for a command sent to another process. */
  start(name: string, seq: number, attempt?: number, client = false): Span {
    if (!this.on) return OFF;
    const span = this.getTracer().startSpan(name, client ? CLIENT : INTERNAL, this.parent());
    this.describe(span, seq, attempt);
    return span;
  }

  private getTracer(): Tracer {
    return (this.tracer ??= trace.getTracer(TRACER_NAME));
  }

  private parent(): Context {
    return (this.parentContext ??= trace.setSpanContext(ROOT_CONTEXT, {
      traceId: this.traceId,
      spanId: this.parentSpanId,
      traceFlags: this.traceFlags,
      isRemote: true,
    }));
  }

  private describe(span: Span, seq: number, attempt?: number): void {
    // Attributes only for a span that records: the no-op span of an unset SDK needs none.
    if (span.isRecording()) {
      this.baseAttributes ??= { "baton.run_id": this.runId, "baton.workflow": this.workflow };
      span.setAttributes(this.baseAttributes);
      span.setAttribute("baton.seq", seq);
      if (attempt !== undefined) span.setAttribute("baton.attempt", attempt);
    }
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
  traceparentOf(span: Span, seq: number, attempt: number | "queued"): string {
    const context = span.spanContext();
    if (context.spanId !== this.parentSpanId && context.traceId === this.traceId)
      return formatTraceparent(context.traceId, context.spanId, context.traceFlags);
    return formatTraceparent(
      this.traceId,
      spanIdOf(`${this.runId}:${seq}:${attempt}`),
      this.traceFlags,
    );
  }

  /**
   * Starts the span of a queued call, which covers enqueue to reply and stays open until `close`.
   * It asks for an id derived from the run and seq: an SDK that honours the ask (see
   * SPAN_ID_CONTEXT_KEY) lets whichever process sees the reply make the span again with the id
   * the worker was told; with another SDK the id is its own.
   */
  startQueued(name: string, seq: number): Span {
    if (!this.on) return OFF;
    const span = this.startWithId(name, this.queuedSpanId(seq), CLIENT);
    this.describe(span, seq);
    (this.open ??= new Map()).set(seq, span);
    return span;
  }

  /**
   * The run is back (another process, or this one after an eviction) while a queued call it sent
   * is out, or answered meanwhile: the call's span goes on. With the id the worker was told if the
   * SDK can (from the enqueue time); else as a child of the span that id names, which the process
   * that left ended — unless it crashed first.
   */
  resumeQueued(name: string, seq: number, traceparent: string, enqueuedAt: number): void {
    if (!this.on || this.open?.has(seq)) return;
    const sent = parseTraceparent(traceparent);
    if (!sent || sent.traceId !== this.traceId) return;
    let span: Span | undefined;
    if (sent.spanId === this.queuedSpanId(seq)) {
      span = this.startWithId(name, sent.spanId, { kind: SpanKind.CLIENT, startTime: enqueuedAt });
      // Not the asked id: this SDK does not honour it. Never ended, that span is never exported.
      if (span.spanContext().spanId !== sent.spanId) span = undefined;
    }
    if (!span) {
      const context = trace.setSpanContext(ROOT_CONTEXT, { ...sent, isRemote: true });
      span = this.getTracer().startSpan(name, CLIENT, context);
      if (span.isRecording()) span.setAttributes(RESUMED);
    }
    this.describe(span, seq);
    (this.open ??= new Map()).set(seq, span);
  }

  private queuedSpanId(seq: number): string {
    return spanIdOf(`${this.runId}:${seq}:queued`);
  }

  private startWithId(name: string, spanId: string, options: SpanOptions): Span {
    const parent = this.parent().setValue(SPAN_ID_CONTEXT_KEY, spanId);
    // The id generator runs inside startSpan and reads the active context, not the parent's.
    return context.with(parent, () => this.getTracer().startSpan(name, options, parent));
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
   * The run leaves this process (evicted, shutdown, lost lease). A span with the asked id is left
   * unended, hence unexported: the process that sees the reply makes it again with that id. Any
   * other is ended now, so the span a worker was told of is exported; `resumeQueued` goes on in
   * a child of it.
   */
  closeAll(): void {
    if (!this.open) return;
    for (const [seq, span] of this.open) {
      if (span.spanContext().spanId === this.queuedSpanId(seq)) continue;
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
