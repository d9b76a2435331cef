import type { RunStatus } from "baton/client";
import type { Outcome, Timeline, TimelineRow } from "./timeline-model.js";

/**
 * The workflow's path as a graph: the steps in seq order left to right, operations that ran
 * at the same time (Promise.all) stacked as branches of one stage, and the compensations on a
 * lower lane drawn back from right to left, each below the step it undoes. Laid out here, in
 * plain numbers, so the SVG component only draws.
 */

export const NODE_WIDTH = 156;
export const NODE_HEIGHT = 48;
const STAGE_GAP = 44;
const BRANCH_GAP = 14;
const LANE_GAP = 64;
const MARGIN = 16;
const TERMINAL_WIDTH = 104;

export type NodeType = "start" | "step" | "end";

export interface PathNode {
  id: string;
  type: NodeType;
  x: number;
  y: number;
  width: number;
  label: string;
  sublabel: string;
  outcome: Outcome | RunStatus | "start";
  seq?: number;
  isCompensation: boolean;
  isCurrent: boolean;
}

export interface PathEdge {
  id: string;
  from: { x: number; y: number };
  to: { x: number; y: number };
  isCompensation: boolean;
  /** Leaves and enters vertically: the drop from the main lane to the compensations. */
  isVertical: boolean;
}

export interface PathGraph {
  width: number;
  height: number;
  nodes: PathNode[];
  edges: PathEdge[];
}

/**
 * Consecutive steps that overlap in time form one stage: each began before any of the others
 * ended. Times have millisecond resolution: parallel steps that each took less than one (and so
 * did not overlap as far as the journal can tell) are drawn one after the other.
 */
export function stagesOf(rows: readonly TimelineRow[]): TimelineRow[][] {
  const stages: TimelineRow[][] = [];
  for (const row of [...rows].sort((a, b) => a.seq - b.seq)) {
    const stage = stages[stages.length - 1];
    const firstEnd = stage
      ? Math.min(...stage.map((r) => (r.isOpen ? Number.POSITIVE_INFINITY : r.end)))
      : Number.NEGATIVE_INFINITY;
    if (stage && row.start < firstEnd) stage.push(row);
    else stages.push([row]);
  }
  return stages;
}

function sublabelOf(row: TimelineRow): string {
  const attempts = row.attempts > 1 ? ` · ${row.attempts} attempts` : "";
  const status = row.outcome === "unfinished" ? "not finished" : row.outcome;
  return `${row.kind} · ${status}${attempts}`;
}

export function buildPath(timeline: Timeline, status: RunStatus): PathGraph {
  const isEnded =
    status === "completed" ||
    status === "compensated" ||
    status === "failed" ||
    status === "cancelled";
  const stages = stagesOf(timeline.rows);
  const tallest = Math.max(1, ...stages.map((s) => s.length));
  const laneHeight = tallest * NODE_HEIGHT + (tallest - 1) * BRANCH_GAP;
  const mainY = MARGIN + laneHeight / 2;

  const nodes: PathNode[] = [];
  const edges: PathEdge[] = [];
  const stepNodes = new Map<number, PathNode>();
  const openSeqs = new Set(
    [...timeline.rows, ...timeline.compensations]
      .filter((r) => r.outcome === "running" || r.outcome === "waiting")
      .map((r) => r.seq),
  );

  const start: PathNode = {
    id: "start",
    type: "start",
    x: MARGIN,
    y: mainY,
    width: TERMINAL_WIDTH,
    label: "start",
    sublabel: "",
    outcome: "start",
    isCompensation: false,
    isCurrent: false,
  };
  nodes.push(start);

  let x = MARGIN + TERMINAL_WIDTH + STAGE_GAP;
  let previous: PathNode[] = [start];
  const stageX: number[] = [];
  for (const stage of stages) {
    stageX.push(x);
    const height = stage.length * NODE_HEIGHT + (stage.length - 1) * BRANCH_GAP;
    const current = stage.map((row, i) => {
      const node: PathNode = {
        id: `step-${row.seq}`,
        type: "step",
        x,
        y: mainY - height / 2 + NODE_HEIGHT / 2 + i * (NODE_HEIGHT + BRANCH_GAP),
        width: NODE_WIDTH,
        label: row.name,
        sublabel: sublabelOf(row),
        outcome: row.outcome,
        seq: row.seq,
        isCompensation: false,
        isCurrent: openSeqs.has(row.seq),
      };
      stepNodes.set(row.seq, node);
      return node;
    });
    connect(edges, previous, current, false);
    nodes.push(...current);
    previous = current;
    x += NODE_WIDTH + STAGE_GAP;
  }
  let width = x;

  // Compensations: a lower lane, right to left, each under the step it compensates.
  const compY = mainY + laneHeight / 2 + LANE_GAP + NODE_HEIGHT / 2;
  let hasCompensationLane = false;
  if (timeline.compensations.length > 0) {
    hasCompensationLane = true;
    let from: PathNode[] = previous;
    // Each compensation sits left of the one before it, under its step when there is room.
    let leftOf = x;
    for (const row of timeline.compensations) {
      const target = row.compensates === undefined ? undefined : stepNodes.get(row.compensates);
      const nextFree = leftOf - NODE_WIDTH - STAGE_GAP;
      const nodeX = target && target.x <= nextFree ? target.x : nextFree;
      leftOf = nodeX;
      const node: PathNode = {
        id: `step-${row.seq}`,
        type: "step",
        x: nodeX,
        y: compY,
        width: NODE_WIDTH,
        label: row.name,
        sublabel: `undoes #${row.compensates ?? "?"} · ${sublabelOf(row).split(" · ").slice(1).join(" · ")}`,
        outcome: row.outcome,
        seq: row.seq,
        isCompensation: true,
        isCurrent: openSeqs.has(row.seq),
      };
      stepNodes.set(row.seq, node);
      connect(edges, from, [node], true);
      nodes.push(node);
      from = [node];
    }
    previous = from;
  }

  if (isEnded) {
    // After compensations the run ends on their lane, left of the last one; otherwise on the right.
    const lastX = Math.min(...previous.map((n) => n.x));
    const end: PathNode = {
      id: "end",
      type: "end",
      x: hasCompensationLane ? lastX - STAGE_GAP - TERMINAL_WIDTH : x,
      y: hasCompensationLane ? compY : mainY,
      width: TERMINAL_WIDTH,
      label: status,
      sublabel: "",
      outcome: status,
      isCompensation: hasCompensationLane,
      isCurrent: true,
    };
    connect(edges, previous, [end], hasCompensationLane);
    nodes.push(end);
    width = Math.max(width, end.x + TERMINAL_WIDTH + STAGE_GAP);
  } else if (openSeqs.size === 0) {
    // Between steps (or not started): the last node is where the run is.
    for (const node of previous) node.isCurrent = true;
  }

  // A compensation lane that reaches back past the start pushes everything right.
  const minX = Math.min(...nodes.map((n) => n.x));
  if (minX < MARGIN) {
    const shift = MARGIN - minX;
    for (const node of nodes) node.x += shift;
    for (const edge of edges) {
      edge.from.x += shift;
      edge.to.x += shift;
    }
    width += shift;
  }
  const height = (hasCompensationLane ? compY + NODE_HEIGHT / 2 : mainY + laneHeight / 2) + MARGIN;
  return { width: width - STAGE_GAP + MARGIN, height, nodes, edges };
}

/**
 * Edges from every node of one stage to every node of the next. Forward edges leave a node's
 * right side for the next one's left; compensation edges run backwards (right to left), and
 * the first one drops from the failed step's bottom to the lower lane.
 */
function connect(
  edges: PathEdge[],
  from: PathNode[],
  to: PathNode[],
  isCompensation: boolean,
): void {
  for (const a of from) {
    for (const b of to) {
      let start: { x: number; y: number };
      let end: { x: number; y: number };
      let isVertical = false;
      if (!isCompensation) {
        start = { x: a.x + a.width, y: a.y };
        end = { x: b.x, y: b.y };
      } else if (!a.isCompensation) {
        // Down from the main lane: from the bottom of the last step to the top of the first compensation.
        start = { x: a.x + a.width / 2, y: a.y + NODE_HEIGHT / 2 };
        end = { x: b.x + b.width / 2, y: b.y - NODE_HEIGHT / 2 };
        isVertical = true;
      } else {
        start = { x: a.x, y: a.y };
        end = { x: b.x + b.width, y: b.y };
      }
      edges.push({ id: `${a.id}->${b.id}`, from: start, to: end, isCompensation, isVertical });
    }
  }
}
