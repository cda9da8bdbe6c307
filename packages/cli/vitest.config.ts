import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // These tests spawn the built CLI dozens of times (~0.5 s each on an idle machine):
    // while every other package's suite runs beside them on two cores, one flow takes 30 s.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
