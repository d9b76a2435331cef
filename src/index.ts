/**
 * Baton: a durable orchestrator for microservices. Workers are in "baton/worker", the HTTP
 * client in "baton/client", test hooks (ManualClock, fault points) in "baton/testing".
 *
 * @example
 * import { workflow, service, http, queue, Baton } from "baton";
 */
export { Baton, type BatonOptions, type ServeOptions, type Serving } from "./baton.js";
export {
  workflow,
  service,
  schedule,
  DEFAULT_RETRY,
  CompensationFailurePolicy,
  type WorkflowDefinition,
  type AnyWorkflow,
  type WorkflowOptions,
  type WorkflowFunction,
  type ServiceDefinition,
  type ScheduleDefinition,
  type ScheduleOptions,
  type Schedules,
  type WorkflowContext,
  type StepInfo,
  type StepOptions,
  type ChildOptions,
  type EmitOptions,
  type WaitForEventOptions,
  type TriggerEvent,
  type PublishOptions,
  type PublishResult,
  type RetryPolicy,
  DEFAULT_LIMITS,
  type RunLimits,
  type StartOptions,
  type StartedRun,
  type ListQuery,
} from "./engine/index.js";
export {
  local,
  http,
  queue,
  amqp,
  type HttpOptions,
  type CommandMeta,
  type CommandHandler,
  type TransportSpec,
  type AmqpTransportSpec,
} from "./transport/index.js";
export {
  BatonError,
  StepFailedError,
  TransientError,
  NonDeterminismError,
  SystemClock,
  RunStatus,
  EventType,
  isTerminal,
  silentLogger,
  type ErrorData,
  type Run,
  type StepView,
  type WaitingOn,
  type HistoryEvent,
  type BatonEvent,
  type Clock,
  type Logger,
  type Schedule,
  type ScheduleOverlap,
  type ScheduleCatchup,
} from "./common/index.js";
export type {
  Webhooks,
  WebhookOptions,
  WebhookRetryPolicy,
  Subscription,
  SubscriptionInput,
} from "./webhooks/index.js";
