import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts several servers (and one a browser): run them one after another so
    // they do not starve each other of the machine's cores (timing-sensitive checks).
    fileParallelism: false,
  },
});
