import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Packs and installs the tarballs once for every test file (test/packed-project.ts).
    globalSetup: ["./test/packed-project.ts"],
    // One npm install that compiles better-sqlite3 from source on a busy machine.
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
  },
});
