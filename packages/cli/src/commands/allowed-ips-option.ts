import type { CliContext } from "../cli-context.js";

/**
 * `--allowed-ip CIDR` (repeatable) as a key's `allowedIps`: `undefined` when not given,
 * `null` for `--allowed-ip any` (the restriction lifted). Each entry is checked by core
 * (`parseAllowedIps`), whose messages name `--allowed-ip`.
 */
export function readAllowedIps(ctx: CliContext): readonly string[] | null | undefined {
  const values = ctx.options("allowed-ip");
  if (values.length === 0) return undefined;
  if (values.length === 1 && /^(any|anywhere|none)$/i.test((values[0] as string).trim())) {
    return null;
  }
  return values;
}
