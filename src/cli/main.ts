/**
 * The `baton` command line. Compiled: `npx baton …` runs dist/cli/main.js (bin/baton.js). From
 * the sources in a clone: `npm start` (the demo), `npm run baton -- …`, or
 * `node --conditions=baton-source --import tsx src/cli/main.ts …`.
 */
import { runCli } from "./program.js";

process.exitCode = await runCli(process.argv.slice(2));
// The command is done and has said so: an idle keep-alive socket or a late timer must not
// hold the shell prompt. Unref'd, so a process with nothing left exits at once as usual.
setTimeout(() => process.exit(), 2_000).unref();
