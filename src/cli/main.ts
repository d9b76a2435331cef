/**
 * The `baton` command line. Compiled: `npx baton …` runs dist/cli/main.js (bin/baton.js). From
 * the sources in a clone: `npm start` (the demo), `npm run baton -- …`, or
 * `node --conditions=baton-source --import tsx src/cli/main.ts …`.
 */
import { runCli } from "./program.js";

// `baton show r-1 | head` closes the pipe before the command is done: the reader has what it
// wanted, so stop quietly rather than die on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    process.exit(e.code === "EPIPE" ? (process.exitCode ?? 0) : 1);
  });
}

process.exitCode = await runCli(process.argv.slice(2));
// The command is done and has said so: an idle keep-alive socket or a late timer must not
// hold the shell prompt. Unref'd, so a process with nothing left exits at once as usual.
setTimeout(() => process.exit(), 2_000).unref();
