// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import reactHooks from "eslint-plugin-react-hooks";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "ui/dist/", "ui/public/", ".baton/", "test-artifacts/", "scratch/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/only-throw-error": "error",
      // Workflow functions are async by contract even when they await nothing.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      "import-x/no-cycle": "error",
      "no-console": "error",
    },
  },
  {
    // The engine is pure logic: no I/O, no drivers, no node:* modules; other layers only through index.ts.
    files: ["src/engine/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*", "better-sqlite3", "pg", "fastify", "pino"], message: "The engine does no I/O of its own." },
            { group: ["../store/*/**", "../transport/*/**", "../server/**", "../cli/**", "../client/**"], message: "Import another layer only through its index.ts, and only downwards." },
          ],
        },
      ],
    },
  },
  {
    files: ["src/store/**/*.ts", "src/transport/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["../engine/**", "../../engine/**", "../server/**", "../../server/**"], message: "Stores and transports sit below the engine." }] },
      ],
    },
  },
  {
    files: ["src/cli/**/*.ts", "bench/**/*.ts", "test/**/*.ts", "**/*.test.ts"],
    rules: { "no-console": "off" },
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // The dashboard: React's rules of hooks, and no Node (its tsconfig has DOM types only).
    files: ["ui/**/*.{ts,tsx}"],
    ...reactHooks.configs.flat.recommended,
  },
  {
    // import-x cannot resolve vite's packages (it crashes on them); a build config has no cycles.
    files: ["ui/vite.config.ts", "vitest.config.ts"],
    rules: { "import-x/no-cycle": "off" },
  },
  { files: ["eslint.config.js"], ...tseslint.configs.disableTypeChecked },
);
