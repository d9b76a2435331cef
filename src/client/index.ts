/**
 * The typed HTTP client of Baton (docs/http-api.md): runs, signals, streams and the worker calls.
 *
 * @example
 * import { BatonClient } from "baton/client";
 * const client = new BatonClient(); // BATON_URL and BATON_API_TOKEN, else http://127.0.0.1:7070
 * for await (const run of client.streamRun("o-1")) console.log(run.status);
 */
export { BatonClient } from "./baton-client.js";
export { BatonClientError } from "./client-error.js";
export type {
  BatonClientOptions,
  StartRunOptions,
  ListRunsQuery,
  WorkflowSummary,
  WorkflowVersionSummary,
  StreamOptions,
  EventsOptions,
  PollOptions,
  TaskFailure,
  SaveScheduleRequest,
} from "./types.js";
export type {
  Subscription,
  CreatedSubscription,
  NewSubscription,
  DeliveryAttempt,
} from "./webhook-types.js";
export { BatonError, isTerminal, RunStatus, EventType } from "../common/index.js";
export type {
  Run,
  StepView,
  WaitingOn,
  HistoryEvent,
  BatonEvent,
  ServiceInfo,
  Task,
  ErrorData,
  Schedule,
  ScheduleOverlap,
  ScheduleCatchup,
} from "../common/index.js";
