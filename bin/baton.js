#!/usr/bin/env node
// The `baton` command runs the compiled CLI in dist/ (built by `npm run build`, which `npm install`
// in a clone and `npm pack` run through `prepare`). TypeScript is loaded only for a `--workflows`
// file that needs it (src/cli/load-definitions.ts). From a clone, `npm start` and
// `npm run baton -- …` run the sources instead.
import { existsSync } from "node:fs";
import process from "node:process";
import { URL } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `baton: ${main.pathname} is missing; in a clone of Baton run \`npm run build\` first\n`,
  );
  process.exit(2);
}
await import(main.href);
