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
