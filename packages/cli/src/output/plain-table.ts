import Table from "cli-table3";

/**
 * keyguard-python's borderless table: a header, one rule under it, padded columns, no borders.
 * Cells longer than their column are cut with `…`. Trailing spaces are trimmed.
 */
export function plainTable(
  head: readonly string[],
  widths: readonly number[],
  rows: readonly (readonly string[])[],
): string {
  const table = new Table({
    head: [...head],
    colWidths: [...widths],
    wordWrap: false,
    truncate: "…",
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "─",
      "mid-mid": "─",
      right: "",
      "right-mid": "",
      middle: " ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0, compact: true },
  });
  for (const row of rows) table.push([...row]);
  return table
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}
