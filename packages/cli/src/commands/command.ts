import type { CAC } from "cac";
import type { CliContext } from "../cli-context.js";

/** One CLI command: it adds itself to cac and acts through the context. */
export type RegisterCommand = (cli: CAC, context: CliContext) => void;
