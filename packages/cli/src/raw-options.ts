/**
 * The exact text given for `--name` on the command line (the last one wins), or
 * `undefined`. cac (through mri) turns numeric-looking values into numbers, which would
 * make `--label 007` the label "7" and accept `--rate-limit 1e3`; the CLI reads values
 * from here instead, so every option is validated from what the user typed.
 */
export function rawOption(argv: readonly string[], name: string): string | undefined {
  const flag = `--${name}`;
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") break;
    if (token === flag) {
      const next = argv[i + 1];
      value = next === undefined || next.startsWith("--") ? "" : next;
    } else if (token.startsWith(`${flag}=`)) {
      value = token.slice(flag.length + 1);
    }
  }
  return value;
}

/** Every value given for a repeatable `--name`, in order (see {@link rawOption}). */
export function rawOptions(argv: readonly string[], name: string): string[] {
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
 * argv for cac, with each value that starts with one dash joined to its option
 * (`--rate-limit -5` -> `--rate-limit=-5`). mri reads `-5` as a short flag, so cac would
 * report "Unknown option `-5`" instead of the value's own, clearer error. Only options that
 * take a value (`valueOptions`, without dashes) are joined: a flag keeps its meaning.
 */
export function joinDashValues(
  argv: readonly string[],
  valueOptions: ReadonlySet<string>,
): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") {
      joined.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (
      token.startsWith("--") &&
      valueOptions.has(token.slice(2)) &&
      next !== undefined &&
      /^-(?!-)./.test(next)
    ) {
      joined.push(`${token}=${next}`);
      i++;
    } else {
      joined.push(token);
    }
  }
  return joined;
}
