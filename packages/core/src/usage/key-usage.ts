import type { ApiKeyInfo } from "../domain/api-key.js";
import type { UsageBucket } from "../domain/usage-bucket.js";

/** One key's requests per UTC hour since a time; hours without requests are zero-filled. */
export interface KeyUsage {
  readonly key: ApiKeyInfo;
  readonly since: Date;
  readonly buckets: readonly UsageBucket[];
}
