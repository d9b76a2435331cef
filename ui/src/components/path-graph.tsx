import type { KeyboardEvent } from "react";
import {
  NODE_HEIGHT,
  type PathEdge,
  type PathGraph as Graph,
  type PathNode,
} from "../lib/path-model.js";

/** The workflow's path (see path-model.ts) as SVG; the current position pulses. */
export function PathGraph({
  graph,
  selectedSeq,
  onSelect,
}: {
  graph: Graph;
  selectedSeq: number | undefined;
  onSelect: (seq: number | undefined) => void;
}) {
  const current = graph.nodes.filter((node) => node.isCurrent).map((node) => node.label);
  return (
    <div className="path-scroll" tabIndex={-1}>
      <svg
        className="path-graph"
        width={graph.width}
        height={graph.height}
        viewBox={`0 0 ${graph.width} ${graph.height}`}
        role="group"
        aria-label={`Workflow path; current position: ${current.join(", ") || "none"}`}
        data-testid="path-graph"
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" className="path-arrow" />
          </marker>
          <marker
            id="arrow-compensation"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" className="path-arrow is-compensation" />
          </marker>
        </defs>
        {graph.edges.map((edge) => (
          <path
            key={edge.id}
            d={curve(edge)}
            className={`path-edge${edge.isCompensation ? " is-compensation" : ""}`}
            markerEnd={`url(#${edge.isCompensation ? "arrow-compensation" : "arrow"})`}
          />
        ))}
        {graph.nodes.map((node) => (
          <Node
            key={node.id}
            node={node}
            isSelected={node.seq !== undefined && node.seq === selectedSeq}
            onSelect={onSelect}
          />
        ))}
      </svg>
    </div>
  );
}

function Node({
  node,
  isSelected,
  onSelect,
}: {
  node: PathNode;
  isSelected: boolean;
  onSelect: (seq: number | undefined) => void;
}) {
  const top = node.y - NODE_HEIGHT / 2;
  const isStep = node.seq !== undefined;
  const select = (): void => {
    if (node.seq !== undefined) onSelect(isSelected ? undefined : node.seq);
  };
  const onKeyDown = (event: KeyboardEvent): void => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select();
    }
  };
  const label = `${node.type === "step" ? `#${node.seq} ` : ""}${node.label}${node.sublabel ? `, ${node.sublabel}` : ""}${node.isCurrent ? " (current position)" : ""}`;
  return (
    <g
      className={[
        "path-node",
        `node-${node.type}`,
        `outcome-${node.outcome}`,
        node.isCompensation ? "is-compensation" : "",
        node.isCurrent ? "is-current" : "",
        isSelected ? "is-selected" : "",
      ].join(" ")}
      transform={`translate(${node.x}, ${top})`}
      data-seq={node.seq}
      data-current={node.isCurrent || undefined}
      {...(isStep
        ? {
            role: "button",
            tabIndex: 0,
            "aria-pressed": isSelected,
            "aria-label": label,
            onClick: select,
            onKeyDown,
          }
        : { role: "img", "aria-label": label })}
    >
      <title>{label}</title>
      {node.isCurrent && (
        <rect
          className="path-node-halo"
          x={-5}
          y={-5}
          width={node.width + 10}
          height={NODE_HEIGHT + 10}
          rx={node.type === "step" ? 13 : (NODE_HEIGHT + 10) / 2}
        />
      )}
      <rect
        className="path-node-box"
        width={node.width}
        height={NODE_HEIGHT}
        rx={node.type === "step" ? 8 : NODE_HEIGHT / 2}
      />
      {node.type === "step" ? (
        <>
          <text x={12} y={20} className="path-node-label">
            {truncate(node.label, 19)}
          </text>
          <text x={12} y={36} className="path-node-sublabel">
            {truncate(node.sublabel, 24)}
          </text>
        </>
      ) : (
        <text
          x={node.width / 2}
          y={NODE_HEIGHT / 2 + 5}
          textAnchor="middle"
          className="path-node-label"
        >
          {node.label}
        </text>
      )}
    </g>
  );
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A smooth S-curve between two points, leaving and entering as the edge runs. */
function curve({ from, to, isVertical }: PathEdge): string {
  if (!isVertical) {
    const bend = (to.x - from.x) / 2;
    return `M ${from.x} ${from.y} C ${from.x + bend} ${from.y}, ${to.x - bend} ${to.y}, ${to.x} ${to.y}`;
  }
  const bend = (to.y - from.y) / 2;
  return `M ${from.x} ${from.y} C ${from.x} ${from.y + bend}, ${to.x} ${to.y - bend}, ${to.x} ${to.y}`;
}
