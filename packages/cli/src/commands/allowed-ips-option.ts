import type { CliContext } from "../cli-context.js";

/**
 * Every value given for `--name` (a repeatable option), in order, read from the exact
 * text of argv as `rawOption` reads one (`--name value` and `--name=value`).
 */
export function rawOptionValues(argv: readonly string[], name: string): string[] {
  const flag = `--${name}`;
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") break;
    if (token === flag) {
      const next = argv[i + 1];
      values.push(next === undefined || next.startsWith("--") ? "" : next);
    } else if (token.startsWith(`${flag}=`)) {
      values.push(token.slice(flag.length + 1));
    }
  }
  return values;
}

/**
 * `--allowed-ip CIDR` (repeatable) as a key's `allowedIps`: `undefined` when not given,
 * `null` for `--allowed-ip any` (the restriction lifted). Each entry is checked by core
 * (`parseAllowedIps`), whose messages name `--allowed-ip`.
 */
export function readAllowedIps(ctx: CliContext): readonly string[] | null | undefined {
  const values = rawOptionValues(ctx.argv, "allowed-ip");
  if (values.length === 0) return undefined;
  if (values.length === 1 && /^(any|anywhere|none)$/i.test((values[0] as string).trim())) {
    return null;
  }
  return values;
}
