import type { Organization } from "@keyguard/core";
import type { Selectable } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import { readConcurrency } from "./concurrency-columns.js";
import type { OrganizationsTable } from "./database-schema.js";
import { readLimits } from "./limits-column.js";

/** An `organizations` row as the organization (reads and exports alike). */
export function organizationFromRow(
  row: Selectable<OrganizationsTable>,
  codec: ColumnCodec,
): Organization {
  return {
    id: row.id,
    name: row.name,
    status: row.status === "suspended" ? "suspended" : "active",
    createdAt: codec.readDate(row.created_at),
    limits: readLimits(row.limits),
    concurrency: readConcurrency(row.concurrency, row.concurrency_mode),
  };
}
