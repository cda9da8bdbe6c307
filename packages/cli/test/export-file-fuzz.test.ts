import { KeyGuardError } from "@keyguard/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readExportFile } from "../src/migration/export-file.js";

/**
 * Generated export files, each with one record broken in one field: whatever the file's
 * size and layout, the import refuses it in one line naming the line that record is on and
 * the field (`keys.json line 14: api_keys[3].key_hash ...`), as docs/export-format.md says.
 */

type Section = "organizations" | "api_keys" | "usage" | "usage_rollups";
type Wire = Record<string, unknown>;

const HOUR = "2026-11-30T08:00:00.000Z";

/** Minimal valid records of each section (the `n`th), referring to organization o0 and key k0. */
const valid: Record<Section, (n: number) => Wire> = {
  organizations: (n) => ({ id: `o${n}`, name: `Org ${n}` }),
  api_keys: (n) => ({
    id: `k${n}`,
    organization_id: "o0",
    key_hash: n.toString(16).padStart(64, "a"),
    hash_scheme: "hmac-sha256",
  }),
  usage: (n) => ({
    id: `u${n}`,
    key_id: "k0",
    path: "/api/data",
    method: "GET",
    status_code: 200,
    latency_ms: 3,
    ip_address: null,
    timestamp: "2026-12-01T22:00:00Z",
    rolled_up: n % 2 === 0,
  }),
  usage_rollups: (n) => ({
    key_id: "k0",
    hour: new Date(Date.parse(HOUR) + n * 3_600_000).toISOString(),
    status_class: 200,
    request_count: 3,
    charged_count: 2,
  }),
};

/** Per section, fields and values that break them. */
const breakages: Record<Section, readonly [string, unknown][]> = {
  organizations: [
    ["id", ""],
    ["name", ""],
    ["name", "x".repeat(201)],
    ["status", "paused"],
    ["created_at", "yesterday"],
    ["concurrency", 0],
    ["limits", [{ name: "BAD NAME", limit: 1, window_seconds: 60 }]],
  ],
  api_keys: [
    ["key_hash", "xyz"],
    ["hash_scheme", "md5"],
    ["rate_limit_per_minute", 0],
    ["rate_limit_per_minute", 1.5],
    ["rate_limit_per_minute", "60"],
    ["monthly_limit", -1],
    ["is_active", "yes"],
    ["scopes", "read"],
    ["expires_at", "2026-12-01 10:00"],
    ["allowed_ips", ["not-an-address"]],
    ["credits", { granted: -1 }],
  ],
  usage: [
    ["status_code", 600],
    ["status_code", 99],
    ["timestamp", "noon"],
    ["request_count", 0],
    ["charged", 1],
    ["rolled_up", "no"],
    ["method", ""],
  ],
  usage_rollups: [
    ["hour", "2026-11-30T08:30:00.000Z"],
    ["hour", "today"],
    ["status_class", 250],
    ["request_count", 0],
    ["charged_count", -1],
    ["charged_count", 4],
  ],
};

/** Required fields a record may lose (the import names them missing). */
const required: Record<Section, readonly string[]> = {
  organizations: ["id", "name"],
  api_keys: ["id", "organization_id", "key_hash", "hash_scheme"],
  usage: ["id", "key_id", "path", "timestamp", "status_code"],
  usage_rollups: ["key_id", "hour", "status_class", "request_count", "charged_count"],
};

const SECTIONS: readonly Section[] = ["organizations", "api_keys", "usage", "usage_rollups"];

/** A file laid out one record per line, blank lines where `gaps` says; the line of each record. */
function layout(records: Record<Section, Wire[]>, gaps: readonly number[]) {
  const lines = ['{"format": "keyguard-export",', '"version": 1,'];
  const lineOf = new Map<string, number>();
  let gap = 0;
  SECTIONS.forEach((section, s) => {
    lines.push(`"${section}": [`);
    records[section].forEach((record, i) => {
      for (let blank = gaps[gap++ % gaps.length] ?? 0; blank > 0; blank--) lines.push("");
      lines.push(JSON.stringify(record) + (i < records[section].length - 1 ? "," : ""));
      lineOf.set(`${section}[${i}]`, lines.length);
    });
    lines.push(s < SECTIONS.length - 1 ? "]," : "]");
  });
  lines.push("}");
  return { content: lines.join("\n"), lineOf };
}

const counts = fc.record({
  organizations: fc.integer({ min: 1, max: 4 }),
  api_keys: fc.integer({ min: 1, max: 6 }),
  usage: fc.integer({ min: 1, max: 6 }),
  usage_rollups: fc.integer({ min: 1, max: 6 }),
});
const gaps = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 });

function build(n: Record<Section, number>): Record<Section, Wire[]> {
  return Object.fromEntries(
    SECTIONS.map((section) => [
      section,
      Array.from({ length: n[section] }, (_, i) => valid[section](i)),
    ]),
  ) as Record<Section, Wire[]>;
}

/** The one-line message the import refuses `content` with. */
function refusal(content: string): string {
  try {
    readExportFile(content, "keys.json", new Date());
  } catch (error) {
    expect(error).toBeInstanceOf(KeyGuardError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("the file was accepted");
}

describe("keyguard import of generated malformed files", () => {
  it("reads every generated valid file whole", () => {
    fc.assert(
      fc.property(counts, gaps, (n, g) => {
        const records = readExportFile(layout(build(n), g).content, "keys.json", new Date());
        expect(records.organizations).toHaveLength(n.organizations);
        expect(records.apiKeys).toHaveLength(n.api_keys);
        expect(records.usage).toHaveLength(n.usage);
        expect(records.usage.map((row) => row.rolledUp)).toEqual(
          Array.from({ length: n.usage }, (_, i) => i % 2 === 0),
        );
        expect(records.usageRollups).toHaveLength(n.usage_rollups);
      }),
      { numRuns: 50 },
    );
  });

  it("names the line and the field of a record broken in one field", () => {
    const broken = fc.constantFrom(
      ...SECTIONS.flatMap((section) =>
        breakages[section].map(([field, value]) => ({ section, field, value })),
      ),
    );
    fc.assert(
      fc.property(counts, gaps, broken, fc.nat(), (n, g, { section, field, value }, pick) => {
        const records = build(n);
        const index = pick % records[section].length;
        records[section][index] = { ...records[section][index], [field]: value };
        const { content, lineOf } = layout(records, g);
        const message = refusal(content);
        const line = lineOf.get(`${section}[${index}]`);
        expect(message.startsWith(`keys.json line ${line}: ${section}[${index}].${field}`)).toBe(
          true,
        );
      }),
      { numRuns: 300 },
    );
  });

  it("names a missing required field, and an unknown one, on the record's line", () => {
    const section = fc.constantFrom(...SECTIONS);
    fc.assert(
      fc.property(
        counts,
        gaps,
        section,
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (n, g, s, pick, which, unknown) => {
          const records = build(n);
          const index = pick % records[s].length;
          const record = { ...(records[s][index] as Wire) };
          const fields = required[s];
          const field = fields[which % fields.length] as string;
          if (unknown) record.colour = "red";
          else delete record[field];
          records[s][index] = record;
          const { content, lineOf } = layout(records, g);
          const line = lineOf.get(`${s}[${index}]`);
          expect(refusal(content)).toBe(
            unknown
              ? `keys.json line ${line}: ${s}[${index}] has unknown field(s) colour`
              : `keys.json line ${line}: ${s}[${index}].${field} is missing`,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
