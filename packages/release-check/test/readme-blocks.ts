import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { packagesDir } from "./packed-project.js";

export const repositoryRoot = join(packagesDir, "..");

/** A fenced code block of a README: where it is, its info string's words, its text. */
export interface ReadmeBlock {
  /** `README.md:152`, for messages. */
  readonly where: string;
  readonly language: string;
  readonly flags: readonly string[];
  readonly code: string;
}

/** The READMEs whose blocks are run: the root one and every package's. */
export function readmeFiles(): string[] {
  const files = [join(repositoryRoot, "README.md")];
  for (const name of readdirSync(packagesDir).sort()) {
    try {
      readFileSync(join(packagesDir, name, "README.md"));
      files.push(join(packagesDir, name, "README.md"));
    } catch {
      // no README
    }
  }
  return files;
}

/** Every fenced block (```info ... ```) of a Markdown file, in order. */
export function readmeBlocks(file: string): ReadmeBlock[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i] as string);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] as string);
    const [language = "", ...flags] = (open[1] as string).trim().split(/\s+/).filter(Boolean);
    blocks.push({
      where: `${relative(repositoryRoot, file)}:${start + 1}`,
      language,
      flags,
      code: `${body.join("\n")}\n`,
    });
  }
  return blocks;
}

/** What the tests do with a block, from its info string (see the README's table). */
export type BlockKind =
  | "output"
  | "no-run"
  | "install"
  | "quick-start"
  | "esm"
  | "cjs"
  | "esm-server"
  | "cjs-server"
  | "unknown";

export function kindOf(block: ReadmeBlock): BlockKind {
  const flags = block.flags.join(" ");
  if (block.language === "") return "output";
  if (flags === "no-run") return "no-run";
  if (block.language === "bash" && flags === "install") return "install";
  if (block.language === "bash" && flags === "quick-start") return "quick-start";
  if (block.language === "js") {
    if (flags === "esm") return "esm";
    if (flags === "cjs") return "cjs";
    if (flags === "esm server") return "esm-server";
    if (flags === "cjs server") return "cjs-server";
  }
  return "unknown";
}

export function allBlocks(): ReadmeBlock[] {
  return readmeFiles().flatMap(readmeBlocks);
}
