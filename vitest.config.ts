import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // "baton" imports (examples/, fixtures) resolve to src/, as tsconfig.json's customConditions say.
  // Not "module": packages such as @opentelemetry/api point it at builds only bundlers can load.
  ssr: {
    resolve: {
      conditions: ["baton-source", ...defaultServerConditions.filter((c) => c !== "module")],
    },
  },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real processes; two cores make more forks counter-productive.
    pool: "forks",
    maxWorkers: 2,
  },
});
