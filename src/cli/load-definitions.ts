import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  isScheduleDefinition,
  isServiceDefinition,
  isWorkflowDefinition,
  type AnyWorkflow,
  type ScheduleDefinition,
  type ServiceDefinition,
} from "../engine/index.js";
import { UsageError } from "./cli-error.js";

export interface LoadedDefinitions {
  workflows: AnyWorkflow[];
  services: ServiceDefinition[];
  schedules: ScheduleDefinition[];
}

/**
 * Imports each `--workflows` file (an ES module, JavaScript or TypeScript) and collects every `workflow()`, `service()` and `schedule()` value among its exports,
 * including those inside exported arrays. A definition exported twice (say as a named and as
 * the default export) counts once; two different ones with one name are refused by Baton.open.
 */
export async function loadDefinitions(files: readonly string[]): Promise<LoadedDefinitions> {
  const workflows = new Set<AnyWorkflow>();
  const services = new Set<ServiceDefinition>();
  const schedules = new Set<ScheduleDefinition>();
  if (files.some(isTypeScript)) await loadTypeScriptSupport();
  for (const file of files) {
    const exports = await importModule(file);
    let found = 0;
    const values = Object.values(exports).flatMap((v): unknown[] => (Array.isArray(v) ? v : [v]));
    for (const value of values) {
      if (isWorkflowDefinition(value)) workflows.add(value as AnyWorkflow);
      else if (isServiceDefinition(value)) services.add(value);
      else if (isScheduleDefinition(value)) schedules.add(value);
      else continue;
      found++;
    }
    if (found === 0) {
      throw new UsageError(
        `${file} exports no workflow(), service() or schedule() values; export them, e.g. export const placeOrder = workflow(...)`,
      );
    }
  }
  return { workflows: [...workflows], services: [...services], schedules: [...schedules] };
}

async function importModule(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`--workflows ${file}: no such file`);
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new UsageError(`cannot load --workflows ${file}: ${reason}`, { cause: e });
  }
}

function isTypeScript(file: string): boolean {
  return /\.[cm]?tsx?$/.test(file);
}

/**
 * Registers tsx's loader for the rest of the process, so a TypeScript `--workflows` file and the
 * TypeScript it imports load as they are. Only when such a file is given: compiled Baton and
 * JavaScript workflows need no loader. When this module is TypeScript itself (the CLI run from
 * its sources, or under vitest), a loader is already in place.
 */
async function loadTypeScriptSupport(): Promise<void> {
  if (import.meta.url.endsWith(".ts")) return;
  const { register } = await import("tsx/esm/api");
  register();
}
