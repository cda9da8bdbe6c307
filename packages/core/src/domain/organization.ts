import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";

/** Whether an organization's keys may be used. A suspended organization's keys are refused. */
export type OrganizationStatus = "active" | "suspended";

/** A tenant that owns API keys (keyguard-python's `organizations` table). */
export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly status: OrganizationStatus;
  readonly createdAt: Date;
  /**
   * Named windows shared by all of the organization's keys (one counter per organization
   * and window, whichever key or process spends it); absent or empty: none.
   */
  readonly limits?: readonly LimitSpec[];
  /**
   * Most requests in flight at once across all of the organization's keys (the policy
   * `org.concurrency`); absent or `null`: no cap.
   */
  readonly concurrency?: ConcurrencySpec | null;
}
