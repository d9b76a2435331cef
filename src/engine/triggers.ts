import { BatonError, isValidRunId } from "../common/index.js";
import type { NewRun } from "../store/index.js";
import { triggerTopics, type WorkflowDefinition } from "./definitions.js";
import type { TriggerEvent } from "./context.js";
import { Entry } from "./journal.js";
import { runStartedData } from "./tracing.js";
import { validateInput } from "./validate-input.js";

/**
 * The workflows each topic triggers (`workflow(name, fn, { on })`), and the runs an event starts.
 * The runs are written in the transaction that writes the event (Store.publishEvent, or a run's
 * append for ctx.emit) and a run id is taken once, so an event id starts each run exactly once —
 * on the node that commits the event, with the workflows that node has registered.
 */
export class TriggerIndex {
  private readonly byTopic = new Map<string, WorkflowDefinition[]>();

  constructor(workflows: Iterable<WorkflowDefinition>) {
    for (const definition of workflows) {
      for (const topic of triggerTopics(definition.options)) {
        const list = this.byTopic.get(topic) ?? [];
        list.push(definition);
        this.byTopic.set(topic, list);
      }
    }
  }

  hasTriggers(topic: string): boolean {
    return this.byTopic.has(topic);
  }

  /**
   * The runs `event` starts, each owned by `nodeId`. A trigger whose run id function fails or
   * gives an invalid id, or whose workflow's schema refuses the data, throws — the event is then
   * not published (a run that cannot exist would otherwise be lost silently).
   */
  runsFor(event: TriggerEvent, encodedData: string | null, now: number, nodeId: string): NewRun[] {
    const definitions = this.byTopic.get(event.topic);
    if (!definitions) return [];
    return definitions.map((definition) => {
      const runId = triggerRunId(definition, event);
      validateInput(definition, event.data);
      const deadline = definition.options.deadline;
      return {
        runId,
        workflow: definition.name,
        input: encodedData,
        createdAt: now,
        parentRunId: null,
        parentSeq: null,
        owner: nodeId,
        version: definition.version,
        firstEntry: {
          position: 0,
          seq: null,
          type: Entry.RunStarted,
          name: null,
          data: runStartedData(
            deadline === undefined ? undefined : now + deadline,
            undefined,
            definition.version,
          ),
          at: now,
        },
      };
    });
  }
}

function triggerRunId(definition: WorkflowDefinition, event: TriggerEvent): string {
  const custom = definition.options.runId;
  if (!custom) return `${event.topic}:${event.id}`;
  let runId: unknown;
  try {
    runId = custom(event);
  } catch (e) {
    throw new BatonError(
      "INVALID_DEFINITION",
      `workflow ${definition.name}: its trigger's runId function threw on event ${event.id}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!isValidRunId(runId)) {
    throw new BatonError(
      "INVALID_DEFINITION",
      `workflow ${definition.name}: its trigger's runId function gave ${JSON.stringify(runId)} for event ${event.id}, not a valid run id (1–200 of A–Z a–z 0–9 . _ - ~ :)`,
    );
  }
  return runId;
}
