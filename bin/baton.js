#!/usr/bin/env node
// The `baton` command: runs the TypeScript CLI through tsx's loader, so `npx baton …` works
// straight after `npm install`, with no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
