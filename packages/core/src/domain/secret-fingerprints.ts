/**
 * Which secrets a database's keys are hashed with, by fingerprint (see
 * `secretFingerprint`): the current one, and those `rotateSecret` retired, newest first.
 * Never the secrets themselves.
 */
export interface SecretFingerprints {
  /** Missing in a database made before fingerprints were recorded, until one is adopted. */
  readonly current?: { readonly fingerprint: string; readonly since: Date };
  readonly previous: readonly { readonly fingerprint: string; readonly retiredAt: Date }[];
}
