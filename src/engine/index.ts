export type { FaultPoint } from "./host.js";
export type { ClusterOptions } from "./cluster.js";
export { Engine, type EngineOptions, type StartOptions, type StartedRun } from "./engine.js";
export type { ListQuery } from "./run-reads.js";
export {
  workflow,
  service,
  isWorkflowDefinition,
  CompensationFailurePolicy,
  isServiceDefinition,
  indexWorkflows,
  schedule,
  isScheduleDefinition,
  type ScheduleDefinition,
  type ScheduleOptions,
  type WorkflowDefinition,
  type AnyWorkflow,
  type WorkflowOptions,
  type WorkflowFunction,
  type ServiceDefinition,
  type InputSchema,
} from "./definitions.js";
export type {
  WorkflowContext,
  StepInfo,
  StepOptions,
  ChildOptions,
  EmitOptions,
  WaitForEventOptions,
  TriggerEvent,
} from "./context.js";
export type { PublishOptions, PublishResult } from "./publish-event.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
export { DEFAULT_LIMITS, type RunLimits } from "./core/limits.js";
export { ReplayChecker, type ReplayVerdict } from "./replay-check.js";
export { checkSchedules, type Schedules, type TickCounts } from "./schedules/schedules.js";
export { tickRunId, manualRunId, LATE_AFTER_MS, CATCHUP_BOUND } from "./schedules/tick-decision.js";
