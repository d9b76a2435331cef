import { readFile } from "node:fs/promises";
import { UsageError } from "./cli-error.js";

/**
 * The value of a JSON option: inline JSON, `@file` for a file's contents, `@-` for stdin.
 * JSON that does not parse is a usage error naming the option and where it went wrong.
 */
export async function readJsonArgument(option: string, raw: string): Promise<unknown> {
  let text = raw;
  let source = `${option}`;
  if (raw.startsWith("@")) {
    const path = raw.slice(1);
    if (path === "") throw new UsageError(`${option} @FILE needs a file name (or @- for stdin)`);
    source = path === "-" ? `${option} @- (stdin)` : `${option} @${path}`;
    try {
      text = path === "-" ? await readStdin() : await readFile(path, "utf8");
    } catch (e) {
      throw new UsageError(`${source}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new UsageError(
      `${source} is not valid JSON (${reason}); e.g. ${option} '{"orderId":"o-1"}'`,
      {
        cause: e,
      },
    );
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
