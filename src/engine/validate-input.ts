import { ValidationError, findNonJson } from "../common/index.js";
import type { WorkflowDefinition } from "./definitions.js";

/**
 * Checks a run's input before the run exists: it must be JSON, and pass the workflow's schema
 * if it has one. Returns the value the workflow function receives (the schema's output).
 */
export function validateInput(definition: WorkflowDefinition, input: unknown): unknown {
  const problem = input === undefined ? undefined : findNonJson(input, "input");
  if (problem) {
    throw new ValidationError(
      "INPUT_NOT_JSON",
      `input of workflow ${definition.name} is not JSON: ${problem}`,
    );
  }
  const schema = definition.options.input;
  if (!schema) return input;
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    "INPUT_INVALID",
    `input does not match the schema of workflow ${definition.name}`,
    {
      issues: parsed.error.issues,
    },
  );
}
