import {
  NotFoundError,
  parseTagFilter,
  parseTimeBound,
  ValidationError,
  isRunStatus,
  isTerminal,
  RUN_STATUSES,
  RunStatus,
  type BatonEvent,
  type Clock,
  type HistoryEvent,
  type Run,
  type ServiceInfo,
  type WaitingOn,
} from "../common/index.js";
import type { EventFilter, RunRecord, Store } from "../store/index.js";
import type { Transport } from "../transport/index.js";
import type { WorkflowDefinition } from "./definitions.js";
import { toBatonEvent } from "./event-records.js";
import type { LiveRunView } from "./run-view.js";
import { toHistory, toRunView } from "./run-view.js";
import type { ServiceView } from "./service-view.js";
import { missingVersionWait } from "./versions.js";

export interface ListQuery {
  workflow?: string;
  status?: string;
  runIdPrefix?: string;
  /** `key:value` conditions, AND-ed (INVALID_FILTER if one is not). */
  tags?: readonly string[];
  /** Created at or after this ISO 8601 time. */
  createdAfter?: string;
  /** Created before this ISO 8601 time. */
  createdBefore?: string;
  limit?: number;
  cursor?: string;
}

/** Runs of one workflow version: whether this node has its code, and how many are in flight. */
export interface VersionCounts {
  version: number;
  registered: boolean;
  inFlight: number;
  total: number;
}

export type WorkflowCounts = {
  name: string;
  registered: boolean;
  /** The version a new run takes, when registered. */
  version?: number;
  versions: VersionCounts[];
} & Record<RunStatus, number>;

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

/**
 * What the engine answers about runs and services: rows and journals from the store, with what
 * the run in memory knows that the store does not show yet, and what an operator needs to act
 * on a wait (queue depth, workers, a dead owner's lease).
 */
export class RunReads {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Workers and call figures: this process's, or the cluster's (see SharedServiceView). */
    private readonly serviceView: ServiceView,
    private readonly workflows: ReadonlyMap<string, WorkflowDefinition>,
    private readonly transports: ReadonlyMap<string, Transport>,
    /** The run executing in this process, if it is here. */
    private readonly resident: (runId: string) => LiveRunView | undefined,
    /** This node's id when several nodes share the store; undefined on a single node. */
    private readonly nodeId: string | undefined,
    /** The versions of a workflow registered on this node. */
    private readonly versionsOf: (workflow: string) => readonly number[],
  ) {}

  /** The run, with its steps; throws RUN_NOT_FOUND. */
  async get(runId: string): Promise<Run> {
    const run = await this.find(runId);
    if (!run) throw new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId });
    return run;
  }

  async find(runId: string): Promise<Run | undefined> {
    const record = await this.store.findRun(runId);
    if (!record) return undefined;
    const run = toRunView(record, await this.store.readJournal(runId), this.resident(runId));
    this.describeMissingVersion(run, record);
    if (run.waitingOn?.kind === "task" && run.waitingOn.service !== undefined)
      run.waitingOn = await this.describeQueueWait(run.waitingOn, run.waitingOn.service);
    if (
      this.nodeId !== undefined &&
      !isTerminal(record.status) &&
      record.owner &&
      record.owner !== this.nodeId &&
      !this.resident(runId)
    )
      await this.describeOwnerDown(run, record, record.owner);
    return run;
  }

  /**
   * A run of a workflow version this node lacks waits for a node that has it (it is not
   * failed): say so, unless another node owns it (then that node runs it).
   */
  private describeMissingVersion(run: Run, record: RunRecord): void {
    if (isTerminal(record.status)) return;
    if (this.nodeId !== undefined && record.owner && record.owner !== this.nodeId) return;
    const registered = this.versionsOf(record.workflow);
    if (registered.includes(record.version)) return;
    run.status = RunStatus.Waiting;
    run.waitingOn = missingVersionWait(record.workflow, record.version, registered);
  }

  /** A run whose node died: it waits for another node to take it over (waitingOn kind "lease"). */
  private async describeOwnerDown(run: Run, record: RunRecord, owner: string): Promise<void> {
    const expiresAt = await this.store.nodeLeaseExpiresAt(owner);
    const now = this.clock.now();
    if (expiresAt !== undefined && expiresAt > now) return;
    const since = expiresAt === undefined ? "" : ` at ${iso(expiresAt)}`;
    const due =
      record.status !== RunStatus.Waiting || (record.wakeAt !== null && record.wakeAt <= now);
    if (!due) {
      // It sleeps or waits for news: whichever node wakes it takes it over then.
      if (run.waitingOn) {
        run.waitingOn = {
          ...run.waitingOn,
          reason: `${run.waitingOn.reason}; its node ${owner} is down, so another node takes it over when it wakes`,
        };
      }
      return;
    }
    const successor = !this.workflows.has(record.workflow)
      ? `it waits for a node that runs workflow ${record.workflow} to take it over`
      : !this.versionsOf(record.workflow).includes(record.version)
        ? `it waits for a node that runs version ${record.version} of workflow ${record.workflow} to take it over`
        : "a live node takes it over within seconds";
    run.waitingOn = {
      kind: "lease",
      reason: `its node ${owner} stopped renewing its lease${since}; ${successor}`,
    };
  }

  /** A wait for a worker, with what an operator needs to act: queue depth and workers seen. */
  private async describeQueueWait(waitingOn: WaitingOn, service: string): Promise<WaitingOn> {
    const transport = this.transports.get(service);
    // A relay inside Baton carries these commands to a broker: what matters is the broker.
    if (transport?.kind === "queue" && transport.describe)
      return { ...waitingOn, reason: `${waitingOn.reason}; ${transport.describe()}` };
    const [counts, figures] = await Promise.all([this.store.taskCounts(), this.serviceView.read()]);
    const queueDepth =
      counts.find((c) => c.service === service && c.status === "queued")?.count ?? 0;
    const workers = figures(service).workers;
    const reason =
      workers === 0
        ? `${waitingOn.reason}; no ${service} worker has polled in the last 30 s`
        : `${waitingOn.reason}; ${queueDepth} queued, ${workers} worker${workers === 1 ? "" : "s"} polling`;
    return { ...waitingOn, queueDepth, workers, reason };
  }

  /** Runs newest first, without their steps (get one run for those). */
  async list(query: ListQuery = {}): Promise<{ runs: Run[]; nextCursor?: string }> {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}, got ${limit}`,
      );
    }
    if (query.status !== undefined && !isRunStatus(query.status)) {
      throw new ValidationError(
        "INVALID_STATUS",
        `status ${JSON.stringify(query.status)} is not one of pending, running, waiting, compensating, completed, compensated, failed, cancelled`,
      );
    }
    const tags = (query.tags ?? []).map(parseTagFilter);
    const createdAfter =
      query.createdAfter === undefined
        ? undefined
        : parseTimeBound("createdAfter", query.createdAfter);
    const createdBefore =
      query.createdBefore === undefined
        ? undefined
        : parseTimeBound("createdBefore", query.createdBefore);
    const page = await this.store.listRuns({
      ...(tags.length ? { tags } : {}),
      ...(createdAfter !== undefined ? { createdAfter } : {}),
      ...(createdBefore !== undefined ? { createdBefore } : {}),
      limit,
      ...(query.workflow !== undefined ? { workflow: query.workflow } : {}),
      ...(query.status !== undefined ? { status: query.status } : {}),
      ...(query.runIdPrefix !== undefined ? { runIdPrefix: query.runIdPrefix } : {}),
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    });
    const runs = page.runs.map((record) => {
      const run = toRunView(record);
      this.describeMissingVersion(run, record);
      return run;
    });
    return page.nextCursor ? { runs, nextCursor: page.nextCursor } : { runs };
  }

  /** The run's journal, oldest first. */
  async history(runId: string): Promise<HistoryEvent[]> {
    await this.getRecord(runId);
    return toHistory(await this.store.readJournal(runId));
  }

  /**
   * The durable event log — user events and Baton's own (a run's end, a failed compensation),
   * written on whichever node — oldest first after `afterId`: positions only grow, so a consumer
   * resumes where it stopped.
   */
  async readEvents(afterId: number, limit: number, filter?: EventFilter): Promise<BatonEvent[]> {
    const records = await this.store.readEvents(afterId, limit, filter);
    return records.map(toBatonEvent);
  }

  async workflowCounts(): Promise<Array<WorkflowCounts>> {
    const counts = new Map<string, Record<string, number>>();
    const versions = new Map<string, Map<number, VersionCounts>>();
    const versionOf = (name: string, version: number): VersionCounts => {
      let byVersion = versions.get(name);
      if (!byVersion) versions.set(name, (byVersion = new Map<number, VersionCounts>()));
      let entry = byVersion.get(version);
      if (!entry) {
        entry = { version, registered: false, inFlight: 0, total: 0 };
        byVersion.set(version, entry);
      }
      return entry;
    };
    for (const name of this.workflows.keys()) {
      counts.set(name, {});
      for (const version of this.versionsOf(name)) versionOf(name, version).registered = true;
    }
    for (const row of await this.store.countRunsByWorkflow()) {
      const byStatus = counts.get(row.workflow) ?? {};
      byStatus[row.status] = (byStatus[row.status] ?? 0) + row.count;
      counts.set(row.workflow, byStatus);
      const entry = versionOf(row.workflow, row.version);
      entry.total += row.count;
      if (!isTerminal(row.status)) entry.inFlight += row.count;
    }
    return [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, byStatus]) => {
        const newest = this.workflows.get(name);
        return {
          name,
          registered: newest !== undefined,
          ...(newest ? { version: newest.version } : {}),
          versions: [...(versions.get(name)?.values() ?? [])].sort((a, b) => a.version - b.version),
          ...(Object.fromEntries(RUN_STATUSES.map((s) => [s, byStatus[s] ?? 0])) as Record<
            RunStatus,
            number
          >),
        };
      });
  }

  /** Every registered service with its transport, queue depth, workers and recent outcomes. */
  async services(): Promise<ServiceInfo[]> {
    const [counts, figures] = await Promise.all([this.store.taskCounts(), this.serviceView.read()]);
    const count = (service: string, status: string): number =>
      counts.find((c) => c.service === service && c.status === status)?.count ?? 0;
    return [...this.transports.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, transport]) => {
        const { workers, inFlight, ...summary } = figures(name);
        const info: ServiceInfo = {
          name,
          transport: transport.kind,
          queueDepth: transport.kind === "queue" ? count(name, "queued") : 0,
          inFlight:
            transport.kind === "queue"
              ? count(name, "leased") + count(name, "withdrawing")
              : inFlight,
          workers: transport.kind === "queue" ? workers : 0,
          ...summary,
        };
        if (transport.kind === "queue") info.leaseMs = transport.leaseMs;
        if ("baseUrl" in transport && typeof transport.baseUrl === "string")
          info.baseUrl = transport.baseUrl;
        return info;
      });
  }

  async getRecord(runId: string): Promise<RunRecord> {
    const record = await this.store.findRun(runId);
    if (!record) throw new NotFoundError("RUN_NOT_FOUND", `run ${runId} does not exist`, { runId });
    return record;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
