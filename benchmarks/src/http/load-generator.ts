/**
 * The load side, run pinned to its own core:
 * `load-generator.ts <url> <seconds> <mode> [key] [rate]`. Modes: `valid` (the given key),
 * `invalid` (a fresh random key per request), `none`. With a rate (requests/s over all
 * connections) the load is offered at that fixed rate instead of as fast as the server
 * answers. Prints autocannon's summary as JSON.
 */
import { randomBytes } from "node:crypto";
import autocannon from "autocannon";

const [url, seconds, mode, key, rate] = process.argv.slice(2) as [
  string,
  string,
  string,
  string | undefined,
  string | undefined,
];
const randomKey = () => `kg_live_${randomBytes(37).toString("base64url").slice(0, 49)}`;

const result = await autocannon({
  url,
  connections: 100,
  duration: Number(seconds),
  ...(rate ? { overallRate: Number(rate) } : {}),
  headers: mode === "valid" && key ? { "x-api-key": key } : {},
  requests:
    mode === "invalid"
      ? [
          {
            setupRequest: (request) => ({
              ...request,
              headers: { ...request.headers, "x-api-key": randomKey() },
            }),
          },
        ]
      : undefined,
});
process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result.requests.average,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    total: result.requests.total,
    latencyP99: result.latency.p99,
  })}\n`,
);
