import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One npm install that compiles better-sqlite3 from source on a busy machine.
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
  },
});
