import { type IpRule, type KeyGuard, KeyGuardError } from "@keyguard/core";
import { toIpRuleWire } from "@keyguard/core/internal";
import { z } from "zod";
import type { AdminRoute } from "./admin-routes.js";

/** What `POST /ip-rules` accepts: the values are checked by core (`addIpRule`). */
export const createIpRuleBody = z
  .strictObject({
    cidr: z
      .string({ error: "cidr must be a string" })
      .describe("An IP address or CIDR range: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32"),
    action: z
      .enum(["allow", "deny"], { error: 'action must be "allow" or "deny"' })
      .describe("allow: never limited or blocked; deny: always refused (403 ip_denied)"),
    reason: z.string({ error: "reason must be a string" }).optional(),
  })
  .meta({ id: "CreateIpRule" });

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 time (UTC)");

export const ipRuleWire = z
  .object({
    id: z.uuid().nullable().describe("null for a rule from the configuration (ipRules)"),
    cidr: z.string().describe("Canonical form: network address and prefix, e.g. 10.0.0.0/8"),
    action: z.enum(["allow", "deny"]),
    reason: z.string().nullable(),
    created_at: timestamp.nullable(),
    source: z
      .enum(["config", "store"])
      .describe(
        "config: from the server's configuration (changed there); store: from this API or the CLI",
      ),
  })
  .meta({ id: "IpRule" });

toIpRuleWire satisfies (rule: IpRule) => z.infer<typeof ipRuleWire>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The admin routes of IP allow / deny rules. */
export const IP_RULE_ROUTES: readonly AdminRoute[] = [
  {
    method: "GET",
    path: "/ip-rules",
    operationId: "listIpRules",
    summary: "IP allow and deny rules (configured ones first, then stored ones, oldest first)",
    tag: "IP rules",
    status: 200,
    query: z.strictObject({}),
    response: z.object({ items: z.array(ipRuleWire) }).meta({ id: "IpRuleList" }),
    run: async (kg: KeyGuard) => ({ items: (await kg.listIpRules()).map(toIpRuleWire) }),
  },
  {
    method: "POST",
    path: "/ip-rules",
    operationId: "createIpRule",
    summary: "Allow or deny an IP address or CIDR range (in force in every process)",
    description:
      "`allow`: clients in the range are never rate limited or blocked (health checkers, internal networks); they still need a valid key, and a key's own allowed_ips still apply. `deny`: clients in the range are refused with 403 `ip_denied` before any key is looked at. Where an allow and a deny rule both cover a client, deny wins. The range is stored in canonical form (host bits cleared, IPv4-mapped IPv6 as IPv4). Adding the same range with the same action again answers 200 with the rule already there.",
    tag: "IP rules",
    status: 201,
    statusFor: (result) => ((result as { created?: boolean }).created === false ? 200 : 201),
    alsoAnswers: { 200: "The same range already had this rule: it is returned unchanged" },
    query: z.strictObject({}),
    body: createIpRuleBody,
    response: ipRuleWire,
    conflict:
      "`conflict`: the range already has a rule with the other action (named in the detail)",
    run: async (kg, { body }) => {
      const input = body as z.infer<typeof createIpRuleBody>;
      const { rule, created } = await kg.addIpRule({
        cidr: input.cidr,
        action: input.action,
        ...(input.reason === undefined ? {} : { reason: input.reason }),
      });
      return Object.defineProperty(toIpRuleWire(rule), "created", { value: created });
    },
  },
  {
    method: "DELETE",
    path: "/ip-rules/{id}",
    operationId: "deleteIpRule",
    summary: "Remove a stored IP rule",
    tag: "IP rules",
    status: 200,
    query: z.strictObject({}),
    response: ipRuleWire,
    run: async (kg, { params }) => {
      const id = params.id ?? "";
      // Not looked up when it cannot be one: nothing the client typed is echoed.
      if (!UUID.test(id)) throw new KeyGuardError("not_found", "No IP rule has this id.");
      return toIpRuleWire(await kg.removeIpRule(id));
    },
  },
];
