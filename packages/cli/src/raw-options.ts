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

/** argv split for cac, and the positional arguments exactly as typed. */
export interface CommandLine {
  /**
   * argv to hand cac: a value that starts with a dash is joined to its option
   * (`--rate-limit -5` -> `--rate-limit=-5`), and a positional argument that is a negative
   * number (`add-credits kg_live_4Gk9 -5`) is left out. mri reads either as a short flag,
   * so cac would report "Unknown option `-5`" instead of the value's own, clearer error.
   */
  readonly forCac: string[];
  /**
   * The positional arguments (the command's name first) as typed: mri turns a number
   * after a flag into a number (`add-credits --json kg_live_4Gk9 1e3` would add 1000) and
   * cannot carry `-5` at all, so commands get these instead of cac's (`positionalArgs`).
   * Everything after `--` is positional, as in most commands.
   */
  readonly positionals: string[];
}

/**
 * Reads argv the way cac will, knowing which options take a value (`valueOptions`,
 * without dashes): a flag keeps its meaning, and only a value can start with a dash.
 * A single-dash token that is not a negative number after the command's name (`-h`, `-x`)
 * stays an option for cac.
 */
export function splitCommandLine(
  argv: readonly string[],
  valueOptions: ReadonlySet<string>,
): CommandLine {
  const forCac: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") {
      forCac.push(...argv.slice(i));
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token.startsWith("--")) {
      const next = argv[i + 1];
      if (!token.includes("=") && valueOptions.has(token.slice(2)) && next !== undefined) {
        // mri takes the next token as the value unless it starts with a dash; a missing
        // value (`--rate-limit --json`) stays cac's "value is missing".
        if (/^-(?!-)./.test(next)) {
          forCac.push(`${token}=${next}`);
          i++;
          continue;
        }
        if (!next.startsWith("-")) {
          forCac.push(token, next);
          i++;
          continue;
        }
      }
      forCac.push(token);
    } else if (/^-[0-9.]/.test(token) && positionals.length > 0) {
      // After the command's name, and no option is a digit: this is a negative number.
      positionals.push(token);
    } else {
      forCac.push(token);
      if (!token.startsWith("-") || token === "-") positionals.push(token);
    }
  }
  return { forCac, positionals };
}
