import type { KeyGuard } from "@keyguard/express";
import { expect } from "vitest";

/** Median, p99 and slowest of `latencies` (ms), printed so every run reports them. */
export function percentiles(label: string, latencies: readonly number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)] as number;
  const result = { median: at(0.5), p99: at(0.99), slowest: sorted.at(-1) as number };
  console.log(
    `${label}: median ${result.median.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, slowest ${result.slowest.toFixed(1)} ms (${sorted.length} samples)`,
  );
  return result;
}

/**
 * Polls `probe` until it answers true; milliseconds from the call. Gives up (failing the
 * test) after `giveUpMs`: far beyond any bound, far below what caches would otherwise keep
 * (30 s for a key, a block's whole length), so only a notice can explain a success.
 */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  giveUpMs = 10_000,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > giveUpMs) {
      throw new Error(`${what}: not seen after ${giveUpMs} ms`);
    }
  }
}

/** "200", or the problem's code; any other answer than `expected` fails the test. */
export async function answer(request: Promise<Response>, expected: readonly string[]) {
  const response = await request;
  const got =
    response.status === 200
      ? "200"
      : String(((await response.json()) as { code?: string }).code ?? response.status);
  expect(expected, `answered ${got}`).toContain(got);
  return got;
}

/** A server under test, as far as the latency helpers need it. */
interface Watched {
  readonly url: string;
}

/**
 * From each stored change until another process answers by it, ms, for `samples` changes
 * of each kind: a key's update (its new limit in `X-RateLimit-Limit`), its rotation without
 * grace (the old key refused), its organization's suspension (its key refused). Every key
 * is cached by every server first, so only the change's notice can explain the answer.
 */
export async function keyChangeLatencies<S extends Watched>(
  admin: KeyGuard,
  servers: readonly S[],
  samples: number,
  call: (server: S, rawKey: string) => Promise<Response>,
): Promise<{ update: number[]; rotate: number[]; suspend: number[] }> {
  const organization = await admin.createOrganization(`Changes ${Date.now()}`);
  const cached = async (orgId: string) => {
    const created = await admin.createApiKey({
      organization: orgId,
      label: "change",
      rateLimitPerMinute: 100_000,
    });
    for (const server of servers) {
      const response = await call(server, created.rawKey);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    return created;
  };
  const result = { update: [] as number[], rotate: [] as number[], suspend: [] as number[] };
  for (let i = 0; i < samples; i++) {
    const watcher = servers[i % servers.length] as S;
    const updated = await cached(organization.id);
    await admin.updateApiKey(updated.key.id, { rateLimitPerMinute: 7_000 + i });
    result.update.push(
      await until(`update ${i}`, async () => {
        const response = await call(watcher, updated.rawKey);
        await response.arrayBuffer();
        return response.headers.get("x-ratelimit-limit") === String(7_000 + i);
      }),
    );
    const rotated = await cached(organization.id);
    await admin.rotateApiKey(rotated.key.id);
    result.rotate.push(
      await until(
        `rotation ${i}`,
        async () =>
          (await answer(call(watcher, rotated.rawKey), ["200", "revoked_api_key"])) !== "200",
      ),
    );
    const suspended = await admin.createOrganization(`Suspended ${Date.now()} ${i}`);
    const ofSuspended = await cached(suspended.id);
    await admin.suspendOrganization(suspended.id);
    result.suspend.push(
      await until(
        `suspension ${i}`,
        async () =>
          (await answer(call(watcher, ofSuspended.rawKey), ["200", "organization_suspended"])) !==
          "200",
      ),
    );
  }
  return result;
}
