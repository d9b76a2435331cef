/** What the store must say once a W1 case is over, whichever store it is. */

export interface ExpectedRuns {
  completed: number;
  compensated: number;
  steps: number;
}

/**
 * Problems with the store's run statuses and its `step.completed` + `step.failed` journal
 * entries, against the failure rule's counts.
 */
export function storeCountProblems(byStatus: Record<string, number>, stepEntries: number, expected: ExpectedRuns): string[] {
  const problems: string[] = [];
  for (const [status, n] of Object.entries(byStatus)) {
    const want = status === "completed" ? expected.completed : status === "compensated" ? expected.compensated : 0;
    if (n !== want) problems.push(`store has ${n} ${status} runs, the failure rule predicts ${want}`);
  }
  for (const status of ["completed", "compensated"] as const) {
    if (expected[status] > 0 && byStatus[status] === undefined) problems.push(`store has no ${status} runs, the failure rule predicts ${expected[status]}`);
  }
  if (stepEntries !== expected.steps) problems.push(`journal has ${stepEntries} step completions, expected ${expected.steps}`);
  return problems;
}
