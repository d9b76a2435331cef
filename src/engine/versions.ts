import { NotFoundError, ValidationError, type WaitingOn } from "../common/index.js";
import type { WorkflowDefinition } from "./context.js";
import { indexWorkflows } from "./definitions.js";

/**
 * Every registered version of every workflow. A new run takes the newest version (or one asked
 * for by number); a run in flight is executed only by the code of the version it started with.
 */
export class WorkflowVersions {
  /** The newest version of each workflow, by name. */
  readonly newest: ReadonlyMap<string, WorkflowDefinition>;
  private readonly byKey = new Map<string, WorkflowDefinition>();

  constructor(definitions: readonly WorkflowDefinition[]) {
    this.newest = indexWorkflows(definitions);
    for (const definition of definitions)
      this.byKey.set(key(definition.name, definition.version), definition);
  }

  /** The code of one version, if this node has it. */
  find(name: string, version: number): WorkflowDefinition | undefined {
    return this.byKey.get(key(name, version));
  }

  has(name: string, version: number): boolean {
    return this.byKey.has(key(name, version));
  }

  /** The versions of a workflow registered here, lowest first. */
  versionsOf(name: string): number[] {
    const versions: number[] = [];
    for (const definition of this.byKey.values())
      if (definition.name === name) versions.push(definition.version);
    return versions.sort((a, b) => a - b);
  }

  /**
   * What a new run of `name` executes: the newest version, or `version` when the caller asks
   * for one (WORKFLOW_NOT_FOUND / VERSION_NOT_FOUND otherwise).
   */
  forNewRun(name: string, version?: number): WorkflowDefinition {
    const newest = this.newest.get(name);
    if (!newest) {
      throw new NotFoundError(
        "WORKFLOW_NOT_FOUND",
        `workflow ${JSON.stringify(name)} is not registered`,
        {
          workflow: name,
        },
      );
    }
    if (version === undefined) return newest;
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new ValidationError(
        "INVALID_ARGUMENT",
        `version must be a positive integer, got ${JSON.stringify(version)}`,
      );
    }
    const definition = this.find(name, version);
    if (!definition) {
      throw new NotFoundError(
        "VERSION_NOT_FOUND",
        `workflow ${name} has no version ${version} here (registered: ${this.versionsOf(name).join(", ")})`,
        { workflow: name, version, registered: this.versionsOf(name) },
      );
    }
    return definition;
  }
}

function key(name: string, version: number): string {
  return `${name}@${version}`;
}

/**
 * What a run whose version this node lacks waits on: a node deployed with that version. It is
 * not failed: deploying that version (or a node that has it) resumes it.
 */
export function missingVersionWait(
  workflow: string,
  version: number,
  registered: readonly number[],
): WaitingOn {
  const here =
    registered.length === 0
      ? `workflow ${workflow} is not registered on this node`
      : `this node has version${registered.length === 1 ? "" : "s"} ${registered.join(", ")}`;
  return {
    kind: "version",
    version,
    reason: `waits for a node that runs version ${version} of workflow ${workflow}; ${here}`,
  };
}
