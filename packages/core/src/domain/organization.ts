/** Whether an organization's keys may be used. A suspended organization's keys are refused. */
export type OrganizationStatus = "active" | "suspended";

/** A tenant that owns API keys (the seed's `organizations` table). */
export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly status: OrganizationStatus;
  readonly createdAt: Date;
}
