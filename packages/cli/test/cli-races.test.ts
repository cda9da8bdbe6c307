import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { oneLine } from "./keyguard-process.js";

const SECRET = "cli-races-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };
/** CLI processes started at once against one database. */
const PROCESSES = 8;

describe.each(cliBackends)("keyguard CLI processes racing on $name", (backend) => {
  const { run, json } = useCliDatabase(backend);

  it(`rotates a key once when ${PROCESSES} processes rotate it at once; the others say so and exit 1`, async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const key = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "prod", "--json"], withSecret),
    ) as { id: string; prefix: string };
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () => run(["rotate-key", key.id, "--json"], withSecret)),
    );
    const rotated = results.filter((r) => r.code === 0);
    expect(rotated).toHaveLength(1);
    const successor = JSON.parse(rotated[0]?.stdout ?? "{}").key as { id: string; prefix: string };
    for (const result of results.filter((r) => r.code !== 0)) {
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(oneLine(result)).toBe(
        `keyguard: Key ${key.prefix} was already rotated; its successor has id ${successor.id}. Rotate or change that key instead.`,
      );
    }
    const keys = json(await run(["list-keys", "--json"])).items as { id: string }[];
    expect(keys.map((k) => k.id).sort()).toEqual([key.id, successor.id].sort());

    // And revocations: one process revokes, the others find it revoked (exit 0: as asked).
    const revokes = await Promise.all(
      Array.from({ length: PROCESSES }, () => run(["revoke-key", successor.id])),
    );
    for (const result of revokes) expect([result.code, result.stderr]).toEqual([0, ""]);
    // The first line says what happened (a revocation adds how soon servers see it).
    const said = revokes.map((r) => (r.stdout.split("\n")[0] ?? "").replace(/ \(.*\)/, ""));
    // (A prefix is base64url: it may hold "-" and "_", so it is compared as it is.)
    expect(said.filter((line) => line === `Revoked key ${successor.prefix}.`)).toHaveLength(1);
    expect(
      said.filter((line) => line === `Key ${successor.prefix} was already revoked.`),
    ).toHaveLength(PROCESSES - 1);
  });
});
