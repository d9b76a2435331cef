import { StepFailedError, workflow } from "../../src/index.js";

/**
 * A workflow that holds something whose release always fails for good, then fails: its rollback
 * stops at the release (seq 2 compensates seq 1) and waits for an operator (policy `event`).
 * A factory, so a `--workflows` file registers it only under the name it exports.
 */
export function stuckRollbackWorkflow(name: string) {
  return workflow(
    name,
    async (ctx) => {
      await ctx.step("reserve", () => ({ held: true }), {
        compensate: () =>
          ctx.step("release", () => {
            throw new StepFailedError("nope");
          }),
      });
      return ctx.step("explode", () => {
        throw new StepFailedError("out of stock", { code: "OUT_OF_STOCK" });
      });
    },
    { onCompensationFailure: "event" },
  );
}
