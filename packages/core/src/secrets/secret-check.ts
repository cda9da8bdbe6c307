import type { SecretFingerprints } from "../domain/secret-fingerprints.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import type { Store } from "../ports/store.js";
import { secretFingerprint, shortFingerprint } from "./secret-fingerprint.js";

/** What checking the configured secrets against the database found. */
export interface SecretCheck {
  /** The database recorded no secret yet and now records this one. */
  readonly adopted: boolean;
  readonly fingerprints: SecretFingerprints;
}

/**
 * Holds the configured secret (and `previousSecretKeys`) to what the database records.
 * A database without a fingerprint (made before they were recorded, or by `init` without
 * a secret) adopts this one. Throws `secret_mismatch` in one line when the secret is not
 * the database's: keys hashed with it would be refused by every server using the right
 * one, and nothing would say why. A store without fingerprint support is not checked.
 */
export async function checkSecrets(
  store: Store,
  secret: string,
  previousSecrets: readonly string[],
  now: Date,
): Promise<SecretCheck | undefined> {
  if (store.readSecretFingerprints === undefined || store.adoptSecretFingerprint === undefined) {
    return undefined;
  }
  const fingerprint = secretFingerprint(secret);
  let fingerprints = await store.readSecretFingerprints();
  let adopted = false;
  if (fingerprints.current === undefined) {
    // Two processes adopting at once: the store keeps one; the other is then a mismatch.
    fingerprints = await store.adoptSecretFingerprint(fingerprint, now);
    adopted = fingerprints.current?.fingerprint === fingerprint;
  }
  const current = fingerprints.current;
  if (current !== undefined && current.fingerprint !== fingerprint) {
    throw mismatch(fingerprint, fingerprints, previousSecrets);
  }
  for (const previous of previousSecrets) {
    const known = secretFingerprint(previous);
    if (!fingerprints.previous.some((retired) => retired.fingerprint === known)) {
      throw new KeyGuardError(
        "secret_mismatch",
        `previousSecretKeys holds a secret (fingerprint ${shortFingerprint(known)}) this database's keys were never hashed with: only secrets a rotation retired belong there (${retiredList(fingerprints)}).`,
        { details: { field: "previousSecretKeys" } },
      );
    }
  }
  return { adopted, fingerprints };
}

function mismatch(
  fingerprint: string,
  fingerprints: SecretFingerprints,
  previousSecrets: readonly string[],
): KeyGuardError {
  const expected = shortFingerprint(fingerprints.current?.fingerprint ?? "");
  const mine = shortFingerprint(fingerprint);
  const details = { field: "secretKey" };
  if (
    previousSecrets.some(
      (previous) => secretFingerprint(previous) === fingerprints.current?.fingerprint,
    )
  ) {
    return new KeyGuardError(
      "secret_mismatch",
      `The database's keys are hashed with a secret listed in previousSecretKeys (fingerprint ${expected}), not with secretKey (${mine}): rotate the secret first (rotateSecret), so the database expects the new one.`,
      { details },
    );
  }
  const retired = fingerprints.previous.find((entry) => entry.fingerprint === fingerprint);
  if (retired !== undefined) {
    return new KeyGuardError(
      "secret_mismatch",
      `secretKey (fingerprint ${mine}) was retired by a secret rotation on ${retired.retiredAt.toISOString()}; the database now expects the secret with fingerprint ${expected}. Use that one, and keep this one among the previous secrets while keys made with it remain.`,
      { details },
    );
  }
  return new KeyGuardError(
    "secret_mismatch",
    `secretKey (fingerprint ${mine}) is not the secret this database's keys are hashed with (fingerprint ${expected}): keys made with it would be refused by every server using the database's secret. Use the database's secret, or change secrets deliberately with a secret rotation (rotateSecret).`,
    { details: { ...details, rotation: true } },
  );
}

function retiredList(fingerprints: SecretFingerprints): string {
  if (fingerprints.previous.length === 0) return "this database has none";
  return `retired: ${fingerprints.previous.map((entry) => shortFingerprint(entry.fingerprint)).join(", ")}`;
}
