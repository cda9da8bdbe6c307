import pc from "picocolors";
import type { CliIo } from "../cli-io.js";

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colour only for a person at a terminal: never when stdout is piped or redirected, never
 * with `NO_COLOR` set (https://no-color.org), always with `FORCE_COLOR`.
 */
export function colorsFor(io: CliIo): Colors {
  const { NO_COLOR, FORCE_COLOR } = io.env;
  const enabled =
    NO_COLOR === undefined || NO_COLOR === ""
      ? (FORCE_COLOR !== undefined && FORCE_COLOR !== "0") || io.stdout.isTTY === true
      : false;
  return pc.createColors(enabled);
}
