import type { IpBlock, KeyGuardChange } from "@keyguard/core";

/**
 * Bounds on what a notice may hold. Notices arrive from the database, and on PostgreSQL
 * any role that can connect may `NOTIFY` any channel: a notice is read as untrusted input,
 * and one that is not exactly what the triggers write is ignored (and reported).
 */
const MAX_NOTICE_CHARS = 8_000;
const MAX_ID_CHARS = 200;
const MAX_CLIENT_CHARS = 64;
const MAX_PATH_CHARS = 2_048;
const MAX_REASON_CHARS = 200;
const MAX_CIDR_CHARS = 64;

/**
 * A change notice as the migration's triggers write it (JSON), or `undefined` when the
 * text is not one: too long, not JSON, or not of a known kind with fields of the right
 * type and size.
 */
export function parseChangeNotice(text: string): KeyGuardChange | undefined {
  if (text.length > MAX_NOTICE_CHARS) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  switch (value.kind) {
    case "api-key":
      return isText(value.keyHash, MAX_ID_CHARS)
        ? { kind: "api-key", keyHash: value.keyHash }
        : undefined;
    case "organization":
      return isText(value.id, MAX_ID_CHARS) ? { kind: "organization", id: value.id } : undefined;
    case "resync":
      return { kind: "resync" };
    case "ip-blocks":
      return parseBlockNotice(value);
    case "ip-rules":
      return parseRuleNotice(value);
    default:
      return undefined;
  }
}

/** A rule added (`added`), removed (`removed`: its id), or neither (re-read them all). */
function parseRuleNotice(value: Record<string, unknown>): KeyGuardChange | undefined {
  const { added, removed } = value;
  if (removed !== undefined) {
    return isText(removed, MAX_ID_CHARS) && added === undefined
      ? { kind: "ip-rules", removed }
      : undefined;
  }
  if (added === undefined) return { kind: "ip-rules" };
  if (!isRecord(added)) return undefined;
  const { id, cidr, action } = added;
  return isText(id, MAX_ID_CHARS) &&
    isText(cidr, MAX_CIDR_CHARS) &&
    (action === "allow" || action === "deny")
    ? { kind: "ip-rules", added: { id, cidr, action } }
    : undefined;
}

function parseBlockNotice(value: Record<string, unknown>): KeyGuardChange | undefined {
  const { client, stored } = value;
  if (!isText(client, MAX_CLIENT_CHARS)) return undefined;
  if (stored !== undefined && typeof stored !== "boolean") return undefined;
  const flag = stored === true ? { stored: true } : {};
  if (value.block === undefined || value.block === null)
    return { kind: "ip-blocks", client, ...flag };
  const block = parseBlock(value.block);
  return block === undefined || block.client !== client
    ? undefined
    : { kind: "ip-blocks", client, block, ...flag };
}

function parseBlock(value: unknown): IpBlock | undefined {
  if (!isRecord(value)) return undefined;
  const { client, scope, path, untilMs, reason, automatic } = value;
  if (!isText(client, MAX_CLIENT_CHARS) || !isText(reason, MAX_REASON_CHARS)) return undefined;
  if (typeof untilMs !== "number" || !Number.isSafeInteger(untilMs)) return undefined;
  if (automatic !== undefined && automatic !== null && typeof automatic !== "boolean") {
    return undefined;
  }
  const byHand = automatic === true ? { automatic: true } : {};
  if (scope === "global") return { client, scope, untilMs, reason, ...byHand };
  if (scope !== "path" || !isText(path, MAX_PATH_CHARS) || !path.startsWith("/")) {
    return undefined;
  }
  return { client, scope, path, untilMs, reason, ...byHand };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isText(value: unknown, maxChars: number): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= maxChars;
}

/** What a feed does with a notice it could not read: tells `onError`, never throws. */
export class UnreadableNoticeError extends Error {
  constructor(source: string, text: string) {
    super(`Ignored an unreadable change notice from ${source} (${text.length} characters)`);
    this.name = "UnreadableNoticeError";
  }
}
