import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { createKeyHasher, isWellFormedKey } from "@keyguard/core/internal";
import { createKyselyStore } from "@keyguard/store-kysely";

const dir = mkdtempSync(join(tmpdir(), "kgp-"));
const store = await createKyselyStore({ url: `sqlite:${join(dir, "p.db")}` });
const kg = new KeyGuard({
  config: resolveConfig({ secretKey: "benchmark-secret-0123456789", cache: { maxEntries: 1 } }, {}),
  store,
});
await kg.init();
await kg.createOrganization("o");
const keys: string[] = [];
for (let i = 0; i < 1000; i++)
  keys.push((await kg.createApiKey({ organization: "o", label: "k" })).rawKey);
const h = createKeyHasher("benchmark-secret-0123456789");
const hashes = keys.map(h);
const N = 200_000;
async function time(name: string, fn: (i: number) => unknown) {
  const t = performance.now();
  for (let r = 0; r < N; r++) await fn(r % 1000);
  console.log(name.padEnd(30), (((performance.now() - t) / N) * 1e6).toFixed(0), "ns/op");
}
for (let round = 0; round < 2; round++) {
  await time("verifyKey cold", (i) => kg.verifyKey(keys[i] as string));
  await time("store.findApiKeyByHash", (i) => store.findApiKeyByHash(hashes[i] as string));
  await time("check+hash+find", (i) => {
    isWellFormedKey(keys[i] as string);
    return store.findApiKeyByHash(h(keys[i] as string));
  });
}
