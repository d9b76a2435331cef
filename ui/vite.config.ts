import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** The config runs in Node; the dashboard's own code does not, so it has no Node types. */
declare const process: { env: Record<string, string | undefined> };

/**
 * The dashboard: `vite build ui` writes ui/dist, which the orchestrator serves at `/`
 * (src/server/static.ts). `vite ui` serves it with hot reload and forwards the API to a
 * server on 127.0.0.1:7070 (BATON_URL to change it).
 */
export default defineConfig({
  plugins: [react()],
  // The dashboard uses only the public client (baton/client); it is fetch-only, so it bundles as is.
  resolve: {
    alias: {
      "baton/client": decodeURIComponent(
        new URL("../src/client/index.ts", import.meta.url).pathname,
      ),
    },
  },
  // Relative to this folder (vite's root when run as `vite build ui`).
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 700 },
  server: {
    proxy: Object.fromEntries(
      ["/v1", "/healthz", "/readyz", "/metrics"].map((path) => [
        path,
        { target: process.env.BATON_URL ?? "http://127.0.0.1:7070", changeOrigin: true },
      ]),
    ),
  },
});
