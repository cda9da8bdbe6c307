import { defineConfig } from "vitest/config";

// The tests run from the package root (vite.config.ts roots Vite at app/, for the build).
export default defineConfig({
  root: ".",
  test: { include: ["test/**/*.test.ts"] },
});
