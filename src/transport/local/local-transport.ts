import { ROOT_CONTEXT, context, trace } from "@opentelemetry/api";
import { StepFailedError, toBatonError } from "../../common/index.js";
import type {
  CommandHandler,
  CommandRequest,
  DirectTransport,
  LocalTransportSpec,
} from "../transport.js";

/**
 * Calls handlers in this process: for tests, benchmarks, and services that live beside the
 * orchestrator. Failures follow the same rules as the network transports: a StepFailedError
 * is a business failure, anything else is retried.
 */
export class LocalTransport implements DirectTransport {
  readonly kind = "local";
  constructor(
    private readonly service: string,
    private readonly handlers: Record<string, CommandHandler>,
  ) {}

  async send(request: CommandRequest): Promise<unknown> {
    const handler = this.handlers[request.command];
    if (!handler) {
      throw new StepFailedError(`service ${this.service} has no command ${request.command}`, {
        code: "COMMAND_NOT_FOUND",
      });
    }
    const call = () =>
      (handler as (input: unknown, meta: unknown) => unknown)(request.input, {
        idempotencyKey: request.idempotencyKey,
        runId: request.runId,
        workflow: request.workflow,
        attempt: request.attempt,
        // Passed on lazily: most handlers never look at it.
        get signal() {
          return request.signal;
        },
      });
    const span = request.span;
    try {
      // A handler's own spans (with the user's SDK and context manager) nest under the call's.
      return await (span?.isRecording()
        ? context.with(trace.setSpan(ROOT_CONTEXT, span), call)
        : call());
    } catch (e) {
      throw toBatonError(e);
    }
  }
}

/** An in-process service: `service("inventory", local({ reserve: async (input) => ... }))`. */
export function local(handlers: Record<string, CommandHandler>): LocalTransportSpec {
  return { kind: "local", handlers };
}
