import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { type CliResult, oneLine } from "./keyguard-process.js";

const OLD = "cli-old-secret-0123456789";
const NEW = "cli-new-secret-9876543210";
const OTHER = "cli-wrong-secret-13579";

describe.each(cliBackends)("keyguard and the secret on $name", (backend) => {
  const { run } = useCliDatabase(backend);
  const rawKeyOf = (result: CliResult) => {
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout).raw_key as string;
  };
  const createKey = (label: string, env: Record<string, string>) =>
    run(["create-key", "--org", "Acme", "--label", label, "--json"], env);

  it("init records the secret's fingerprint; create-key with another --secret is refused in one line", async () => {
    const init = await run(["init"], { KEYGUARD_SECRET_KEY: OLD });
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/Secret fingerprint: [0-9a-f]{12} \(keys made with another secret/);
    expect(init.stdout).not.toContain(OLD);
    expect(await run(["create-org", "Acme"])).toMatchObject({ code: 0 });

    const wrong = await run(["create-key", "--org", "Acme", "--label", "k", "--secret", OTHER]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toBe("");
    const line = oneLine(wrong);
    expect(line).toMatch(
      /^keyguard: the secret key \(--secret \/ KEYGUARD_SECRET_KEY\) \(fingerprint [0-9a-f]{12}\) is not the secret this database's keys are hashed with/,
    );
    expect(line).toContain("keyguard rotate-secret");
    expect(line).not.toContain(OTHER);
    const listed = await run(["list-keys", "--json"]);
    expect(JSON.parse(listed.stdout).items).toEqual([]); // nothing was written

    expect(rawKeyOf(await createKey("k", { KEYGUARD_SECRET_KEY: OLD }))).toMatch(/^kg_live_/);
  });

  it("a database made without a secret adopts the first one used, and says so on stderr", async () => {
    expect(await run(["init"])).toMatchObject({ code: 0 });
    expect(await run(["create-org", "Acme"])).toMatchObject({ code: 0 });
    const first = await createKey("first", { KEYGUARD_SECRET_KEY: OLD });
    expect(first.stderr).toBe(""); // no keys yet: nothing to warn about
    rawKeyOf(first);
    expect((await createKey("second", { KEYGUARD_SECRET_KEY: OTHER })).code).toBe(1);
  });

  it("rotate-secret: says what to configure; old keys keep working with the previous secret", async () => {
    expect((await run(["init"], { KEYGUARD_SECRET_KEY: OLD })).code).toBe(0);
    expect(await run(["create-org", "Acme"])).toMatchObject({ code: 0 });
    const oldKey = rawKeyOf(await createKey("old", { KEYGUARD_SECRET_KEY: OLD }));

    const missing = await run(["rotate-secret"], { KEYGUARD_SECRET_KEY: OLD });
    expect(missing.code).toBe(2);
    expect(oneLine(missing)).toMatch(/needs the new secret/);
    const wrongCurrent = await run(["rotate-secret", "--new-secret", NEW], {
      KEYGUARD_SECRET_KEY: OTHER,
    });
    expect(wrongCurrent.code).toBe(1);

    const rotated = await run(["rotate-secret", "--new-secret", NEW], { KEYGUARD_SECRET_KEY: OLD });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/^Secret rotated: the database now expects the new secret/);
    expect(rotated.stdout).toContain("KEYGUARD_PREVIOUS_SECRET_KEYS=<the old secret>");
    expect(rotated.stdout).toContain("(1 active)");
    expect(rotated.stdout).not.toContain(NEW);

    // The old secret alone is refused now, naming the retirement.
    const stale = await createKey("stale", { KEYGUARD_SECRET_KEY: OLD });
    expect(stale.code).toBe(1);
    expect(oneLine(stale)).toMatch(/was retired by a secret rotation on \d{4}-/);
    // New secret plus the old one as previous: the old key is still found by its raw key.
    const both = { KEYGUARD_SECRET_KEY: NEW, KEYGUARD_PREVIOUS_SECRET_KEYS: OLD };
    rawKeyOf(await createKey("new", both));
    const rotatedKey = await run(["rotate-key", oldKey, "--json"], both);
    expect(rotatedKey.code, rotatedKey.stderr).toBe(0);
    expect(JSON.parse(rotatedKey.stdout).previous.label).toBe("old");
    const unknown = await run(["revoke-key", oldKey], { KEYGUARD_SECRET_KEY: NEW });
    expect(unknown.code).toBe(1); // without the previous secret the old raw key names nothing
  });

  it("stats tell when the previous secret can be removed: no active key made before the rotation", async () => {
    expect((await run(["init"], { KEYGUARD_SECRET_KEY: OLD })).code).toBe(0);
    expect(await run(["create-org", "Acme"])).toMatchObject({ code: 0 });
    const first = rawKeyOf(await createKey("first", { KEYGUARD_SECRET_KEY: OLD }));
    rawKeyOf(await createKey("second", { KEYGUARD_SECRET_KEY: OLD }));
    const statsJson = async () => JSON.parse((await run(["stats", "--json"])).stdout);
    expect(await statsJson()).toMatchObject({ previous_secret_keys: 0, legacy_hash_keys: 0 });
    expect((await run(["stats"])).stdout).not.toContain("Old-Secret");

    const rotated = await run(["rotate-secret", "--new-secret", NEW], { KEYGUARD_SECRET_KEY: OLD });
    expect(rotated.stdout).toContain("keyguard stats shows");
    expect(await statsJson()).toMatchObject({ active_keys: 2, previous_secret_keys: 2 });
    expect((await run(["stats"])).stdout).toMatch(/║ {2}Old-Secret Keys: {2}2 +║/);

    const both = { KEYGUARD_SECRET_KEY: NEW, KEYGUARD_PREVIOUS_SECRET_KEYS: OLD };
    rawKeyOf(await createKey("third", both)); // made with the new secret: not counted
    expect((await run(["rotate-key", first], both)).code).toBe(0); // its successor is new
    expect(await statsJson()).toMatchObject({ active_keys: 3, previous_secret_keys: 1 });
    const second = JSON.parse((await run(["list-keys", "--json"])).stdout).items.find(
      (key: { label: string }) => key.label === "second",
    );
    expect((await run(["revoke-key", second.prefix])).code).toBe(0);
    expect(await statsJson()).toMatchObject({ active_keys: 2, previous_secret_keys: 0 });
    expect((await run(["stats"])).stdout).not.toContain("Old-Secret");
  });
});
