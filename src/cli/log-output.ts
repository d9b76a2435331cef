import pino, { type Logger } from "pino";
import { Style, type OutputStream } from "./terminal.js";

export interface LoggerOptions {
  /** Human-readable lines (`baton dev`, `baton demo`) instead of JSON (`baton server`). */
  pretty: boolean;
  /** Default info; BATON_LOG_LEVEL overrides. */
  level?: string;
  stream?: OutputStream;
}

/** The CLI's logger: pino, JSON lines for machines or one readable line per record for people. */
export function createLogger(options: LoggerOptions): Logger {
  const level = process.env.BATON_LOG_LEVEL ?? options.level ?? "info";
  const stream = options.stream ?? process.stdout;
  if (!options.pretty)
    return pino({ level, name: "baton" }, { write: (line: string) => stream.write(line) });
  const style = new Style(stream);
  return pino(
    { level, base: null },
    { write: (line: string) => stream.write(prettyLine(line, style)) },
  );
}

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
/** Fields every record has, or that the line already shows. */
const SHOWN = new Set(["level", "time", "msg", "pid", "hostname", "name", "v"]);

/** `14:03:07.412 WARN  run failed runId=o-1 err=COMPENSATION_FAILED: …` */
export function prettyLine(json: string, style: Style): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof record.time === "number" ? new Date(record.time) : new Date();
  const clock =
    time.toTimeString().slice(0, 8) + "." + String(time.getMilliseconds()).padStart(3, "0");
  const levelNumber = typeof record.level === "number" ? record.level : 30;
  const label = (LEVELS[levelNumber] ?? String(levelNumber)).padEnd(5);
  const coloured =
    levelNumber >= 50
      ? style.red(label)
      : levelNumber >= 40
        ? style.yellow(label)
        : levelNumber >= 30
          ? style.green(label)
          : style.dim(label);
  const fields = Object.entries(record)
    .filter(([key]) => !SHOWN.has(key))
    .map(([key, value]) => `${style.dim(`${key}=`)}${fieldValue(key, value)}`);
  const message = typeof record.msg === "string" ? record.msg : "";
  return `${style.dim(clock)} ${coloured} ${message}${fields.length ? ` ${fields.join(" ")}` : ""}\n`;
}

function fieldValue(key: string, value: unknown): string {
  if (key === "err" && typeof value === "object" && value !== null) {
    const { code, message } = value as { code?: unknown; message?: unknown };
    if (typeof message === "string")
      return JSON.stringify(typeof code === "string" ? `${code}: ${message}` : message);
  }
  if (typeof value === "string") return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
