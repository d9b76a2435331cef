/**
 * The chaos client: sends every operation through the next node of a round-robin, and records
 * each request with its answer (or the lack of one) in the history the checkers read. An
 * operation whose answer is unknown (no answer, 5xx) is sent again, through the next node, until
 * it gets a definite one or the client is told to give up.
 */
export type OpKind = "start" | "signal" | "cancel" | "retry";

export interface HistoryEntry {
  op: OpKind;
  runId: string;
  /** The workflow (start), the signal's payload id (signal). */
  detail?: string;
  node: string;
  sentAt: number;
  answeredAt: number;
  /** The HTTP status, or undefined when no answer came (timeout, refused, reset). */
  status: number | undefined;
  /** The error code of a 4xx/5xx answer, or the transport error. */
  code?: string;
}

export interface NodeRef {
  id: string;
  url: string;
}

export class ChaosClient {
  readonly history: HistoryEntry[] = [];
  private turn = 0;
  private stopped = false;

  constructor(
    private readonly nodes: () => NodeRef[],
    private readonly requestTimeoutMs: number,
  ) {}

  /** Unknown answers stop being retried: the operation stays unacknowledged. */
  giveUp(): void {
    this.stopped = true;
  }

  private next(): NodeRef {
    const all = this.nodes();
    return all[this.turn++ % all.length]!;
  }

  /** One request; recorded. */
  private async send(
    op: OpKind,
    runId: string,
    path: string,
    body: unknown,
    detail?: string,
  ): Promise<HistoryEntry> {
    const node = this.next();
    const sentAt = Date.now();
    let status: number | undefined;
    let code: string | undefined;
    try {
      const response = await fetch(`${node.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      status = response.status;
      const text = await response.text();
      if (status >= 400) {
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = text.slice(0, 80);
        }
      }
    } catch (e) {
      code =
        (e as Error).name === "TimeoutError"
          ? "TIMEOUT"
          : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message);
    }
    const entry: HistoryEntry = {
      op,
      runId,
      node: node.id,
      sentAt,
      answeredAt: Date.now(),
      status,
      ...(detail !== undefined ? { detail } : {}),
      ...(code !== undefined ? { code } : {}),
    };
    this.history.push(entry);
    return entry;
  }

  /** Sends until the answer is definite (not 5xx, not missing); the last entry, or undefined. */
  private async definite(
    op: OpKind,
    runId: string,
    path: string,
    body: unknown,
    detail?: string,
  ): Promise<HistoryEntry | undefined> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
      const entry = await this.send(op, runId, path, body, detail);
      if (entry.status !== undefined && entry.status < 500) return entry;
      if (this.stopped) return undefined;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  start(workflow: string, runId: string, input: unknown): Promise<HistoryEntry | undefined> {
    return this.definite(
      "start",
      runId,
      `/v1/workflows/${workflow}/runs`,
      { runId, input },
      workflow,
    );
  }

  signal(runId: string, name: string, payload: { id: string }): Promise<HistoryEntry | undefined> {
    return this.definite(
      "signal",
      runId,
      `/v1/runs/${encodeURIComponent(runId)}/signals/${name}`,
      { payload },
      payload.id,
    );
  }

  cancel(runId: string): Promise<HistoryEntry | undefined> {
    return this.definite("cancel", runId, `/v1/runs/${encodeURIComponent(runId)}/cancel`, {
      reason: "chaos operator",
    });
  }

  retry(runId: string): Promise<HistoryEntry | undefined> {
    return this.definite("retry", runId, `/v1/runs/${encodeURIComponent(runId)}/retry`, {});
  }
}

export function acknowledged(entry: HistoryEntry): boolean {
  return entry.status !== undefined && entry.status >= 200 && entry.status < 300;
}
