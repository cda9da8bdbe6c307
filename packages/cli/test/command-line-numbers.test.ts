import { join } from "node:path";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseWholeNumber } from "../src/parse-whole-number.js";
import { splitCommandLine } from "../src/raw-options.js";
import { runCli } from "../src/run-cli.js";
import { UsageError } from "../src/usage-error.js";
import { type CliDatabase, cliBackends, sqliteBackend, useCliDatabase } from "./cli-backends.js";
import { type CliResult, oneLine } from "./keyguard-process.js";

const SECRET = "cli-numbers-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };

/** What a user obviously means as a whole number: digits, blanks around them allowed. */
const WHOLE_NUMBER_TEXT = /^\s*[0-9]+\s*$/;

/** Text no count may be given as: each kind a user (or a script, or an attacker) types. */
const badNumber: fc.Arbitrary<string> = fc.oneof(
  fc.string().filter((text) => !WHOLE_NUMBER_TEXT.test(text)),
  fc.string({ unit: "binary" }).filter((text) => !WHOLE_NUMBER_TEXT.test(text)),
  fc.integer({ max: 0 }).map(String),
  fc.nat().map((n) => `+${n}`),
  fc
    .tuple(fc.integer({ min: 1, max: 999 }), fc.nat(999), fc.constantFrom(",", "_", " ", ".", "'"))
    .map(([high, low, separator]) => `${high}${separator}${String(low).padStart(3, "0")}`),
  fc.tuple(fc.nat(99), fc.nat(20)).map(([n, exponent]) => `${n}e${exponent}`),
  fc.tuple(fc.nat(), fc.constantFrom("0x", "0o", "0b")).map(([n, base]) => `${base}${n}`),
  fc.tuple(fc.nat(), fc.constantFrom(".0", ".5", ".")).map(([n, fraction]) => `${n}${fraction}`),
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 40n }).map(String),
  fc.constantFrom("Infinity", "-Infinity", "NaN", "", " ", "-0", "٣", "５", "1\u00a0000", "0"),
);

describe("parseWholeNumber", () => {
  it("reads every whole number from 1 to 2^53 - 1 as its digits, leading zeros and blanks around allowed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.nat(3),
        fc.constantFrom("", " ", "  ", "\t"),
        (n, zeros, blank) => {
          const text = `${blank}${"0".repeat(zeros)}${n}${blank}`;
          expect(parseWholeNumber(text, "--rate-limit")).toBe(n);
        },
      ),
    );
    expect(parseWholeNumber("0", "--credits", { min: 0 })).toBe(0);
    expect(parseWholeNumber("10000", "--concurrency", { max: 10_000 })).toBe(10_000);
  });

  it("refuses everything else in one line that names what was asked for and what was typed", () => {
    fc.assert(
      fc.property(badNumber, (text) => {
        let error: unknown;
        try {
          parseWholeNumber(text, "--rate-limit");
        } catch (thrown) {
          error = thrown;
        }
        expect(error).toBeInstanceOf(UsageError);
        const message = (error as Error).message;
        expect(message).toMatch(/^--rate-limit must be (a positive whole number|at most)/);
        expect(message).toContain("(got ");
      }),
    );
    expect(() => parseWholeNumber("-5", "add-credits: the amount <n>")).toThrow(
      "add-credits: the amount <n> must be a positive whole number (got -5)",
    );
    expect(() => parseWholeNumber("1,000", "--credits", { min: 0 })).toThrow(
      "--credits must be a whole number (0 or more), written in plain digits (got 1,000)",
    );
    expect(() => parseWholeNumber("9007199254740993", "--credits", { min: 0 })).toThrow(
      "--credits must be at most 9007199254740991 (got 9007199254740993)",
    );
    expect(() => parseWholeNumber("10001", "--concurrency", { max: 10_000 })).toThrow(
      "--concurrency must be at most 10000 (got 10001)",
    );
    expect(() => parseWholeNumber(" ", "--monthly-limit")).toThrow('(got " ")');
  });
});

describe("splitCommandLine", () => {
  const valueOptions = new Set(["rate-limit", "db", "label"]);

  it("gives the command its positional arguments exactly as typed, whatever they are", () => {
    const positional = fc.oneof(
      fc.string().filter((text) => !text.startsWith("-")),
      fc.integer({ max: -1 }).map(String),
      fc.constantFrom("-5", "-0", "-1e3", "-.5", "007", "1e3"),
    );
    fc.assert(
      fc.property(fc.array(positional, { maxLength: 3 }), fc.boolean(), (args, json) => {
        const argv = ["add-credits", ...(json ? ["--json"] : []), ...args];
        const split = splitCommandLine(["--db", "sqlite:x.db", ...argv], valueOptions);
        expect(split.positionals).toEqual(["add-credits", ...args]);
      }),
    );
  });

  it("joins a value that starts with a dash to its option, and leaves flags as they are", () => {
    expect(
      splitCommandLine(["create-key", "--rate-limit", "-5", "--label", "x"], valueOptions),
    ).toEqual({
      forCac: ["create-key", "--rate-limit=-5", "--label", "x"],
      positionals: ["create-key"],
    });
    expect(splitCommandLine(["add-credits", "k", "-5", "-h"], valueOptions)).toEqual({
      forCac: ["add-credits", "k", "-h"],
      positionals: ["add-credits", "k", "-5"],
    });
    // Before the command's name a dash is an option (cac says it is unknown).
    expect(splitCommandLine(["-5", "stats"], valueOptions).forCac).toEqual(["-5", "stats"]);
    expect(splitCommandLine(["add-credits", "k", "--", "-5"], valueOptions).positionals).toEqual([
      "add-credits",
      "k",
      "-5",
    ]);
  });
});

/** `keyguard args` in this process (the same code as the bin), for large generated sweeps. */
async function inProcess(db: CliDatabase, args: readonly string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: {
      KEYGUARD_DATABASE_URL: `sqlite:${join(db.cwd, "keyguard.db")}`,
      KEYGUARD_SECRET_KEY: SECRET,
    },
    cwd: db.cwd,
  });
  return { code, stdout, stderr };
}

describe("every count the CLI takes, given bad text", () => {
  const harness = useCliDatabase(sqliteBackend);
  const { run, json } = harness;

  it("is refused with one stderr line naming the option, exit 2, and nothing written", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme"])).code).toBe(0);
    const key = json(
      await run(["create-key", "--org", "Acme", "--label", "k", "--credits", "5", "--json"], {
        ...withSecret,
      }),
    );
    const create = ["create-key", "--org", "Acme", "--label", "new"];
    const update = ["update-key", key.prefix as string];
    // Each: the name the message must contain, and the command line for a value.
    const forms: [string, (value: string) => string[]][] = [];
    for (const option of ["rate-limit", "monthly-limit", "concurrency", "credits"]) {
      for (const command of [create, update]) {
        forms.push([`--${option}`, (value) => [...command, `--${option}`, value]]);
        forms.push([`--${option}`, (value) => [...command, `--${option}=${value}`]]);
      }
    }
    for (const command of [create, update, ["set-org-limits", "Acme"]]) {
      forms.push(["--limit", (value) => [...command, "--limit", `burst=${value}/1s`]]);
    }
    for (const command of [create, update]) {
      forms.push([
        "--refill",
        (value) => [...command, "--credits", "5", "--refill", `${value}/daily`],
      ]);
    }
    forms.push(["--concurrency", (value) => ["set-org-limits", "Acme", "--concurrency", value]]);
    forms.push(["--limit", (value) => ["audit", "--limit", value]]);
    forms.push(["add-credits", (value) => ["add-credits", key.prefix as string, value]]);
    forms.push(["add-credits", (value) => ["add-credits", "--json", key.prefix as string, value]]);

    const before = await harness.db.dump();
    await fc.assert(
      fc.asyncProperty(
        // A value cac takes for an option of its own (`--x`, `-h`) is cac's to explain.
        badNumber.filter(
          (value) => !/^-[^0-9.]/.test(value) && !/^\s*(none|unlimited)\s*$/i.test(value),
        ),
        fc.constantFrom(...forms),
        async (value, [name, argsFor]) => {
          fc.pre(!(name === "--credits" && /^\s*0+\s*$/.test(value))); // no credits: allowed
          const result = await inProcess(harness.db, argsFor(value));
          expect(result.code).toBe(2);
          expect(result.stdout).toBe("");
          expect(oneLine(result)).toMatch(/^keyguard: /);
          expect(oneLine(result)).toContain(name);
        },
      ),
      { numRuns: 400 },
    );
    expect(await harness.db.dump()).toBe(before);
  });
});

describe("every duration the CLI takes, given bad text", () => {
  const harness = useCliDatabase(sqliteBackend);
  const { run, json } = harness;

  it("is refused with one stderr line quoting it as typed, exit 2, and nothing written", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme"])).code).toBe(0);
    const key = json(
      await run(["create-key", "--org", "Acme", "--label", "k", "--json"], withSecret),
    );
    const forms: [string, (value: string) => string[]][] = [
      ["--duration", (value) => ["block-ip", "203.0.113.7", "--duration", value]],
      ["--since", (value) => ["usage", key.prefix, "--since", value]],
      ["--grace", (value) => ["rotate-key", key.prefix, "--grace", value]],
      ["--expires", (value) => ["create-key", "--org", "Acme", "--label", "x", "--expires", value]],
      ["--limit", (value) => ["set-org-limits", "Acme", "--limit", `m=5/${value}`]],
    ];
    const before = await harness.db.dump();
    for (const value of [
      "-5",
      "-1h",
      "1e3",
      "0x10",
      "1,000",
      "Infinity",
      "NaN",
      "0",
      "5 parsecs",
    ]) {
      for (const [name, argsFor] of forms) {
        const result = await inProcess(harness.db, argsFor(value));
        expect(result.code, `${name} ${value}`).toBe(2);
        expect(result.stdout).toBe("");
        expect(oneLine(result)).toMatch(
          new RegExp(`^keyguard: ${name} "${value}" is (not|neither)`),
        );
      }
    }
    const tooLong = await inProcess(harness.db, forms[0]?.[1]("99999999999999999999") ?? []);
    expect(oneLine(tooLong)).toBe(
      'keyguard: --duration "99999999999999999999" is too long: at most 3650 days (10 years) (see keyguard --help)',
    );
    expect(await harness.db.dump()).toBe(before);
  });
});

describe.each(cliBackends)("counts typed on the command line, on $name", (backend) => {
  const { run, json } = useCliDatabase(backend);

  it("refuses a negative or malformed add-credits amount in one line, adding nothing", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme"])).code).toBe(0);
    const key = json(
      await run(
        ["create-key", "--org", "Acme", "--label", "k", "--credits", "5", "--json"],
        withSecret,
      ),
    );
    for (const args of [
      ["add-credits", key.prefix, "-5"],
      ["add-credits", key.prefix, "--json", "-5"],
      ["add-credits", key.prefix, "--", "-5"],
    ]) {
      const refused = await run(args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(oneLine(refused)).toBe(
        "keyguard: add-credits: the amount <n> must be a positive whole number (got -5) (see keyguard --help)",
      );
    }
    for (const amount of ["1,000", "1_000", "1e3", "0x10", "5.0", "Infinity", "9007199254740993"]) {
      // After a flag too, where mri would have turned 1e3 into 1000.
      const refused = await run(["add-credits", "--json", key.prefix, amount]);
      expect(refused.code, amount).toBe(2);
      expect(oneLine(refused)).toMatch(/^keyguard: add-credits: the amount <n> must be/);
      expect(oneLine(refused)).toContain(`(got ${amount})`);
    }
    const listed = json(await run(["list-keys", "--json"])).items;
    expect(listed[0].credits.remaining).toBe(5);
    const added = json(await run(["add-credits", key.prefix, " 0007 ", "--json"]));
    expect(added).toMatchObject({ added: 7, remaining: 12 });
  });

  it("keeps a positional argument as typed after a flag (an organization named 007)", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect(json(await run(["create-org", "--json", "007"])).name).toBe("007");
  });

  it("names the option for a negative value given without '='", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme"])).code).toBe(0);
    for (const [args, line] of [
      [["--concurrency", "-5"], "--concurrency must be a positive whole number (got -5)"],
      [["--credits", "-5"], "--credits must be a whole number (0 or more) (got -5)"],
      [
        ["--credits", "5", "--refill", "-5/monthly"],
        "the amount in --refill -5/monthly must be a positive whole number (got -5)",
      ],
      [
        ["--limit", "burst=-5/1s"],
        "the limit in --limit burst=-5/1s must be a positive whole number (got -5)",
      ],
    ] as const) {
      const refused = await run(
        ["create-key", "--org", "Acme", "--label", "k", ...args],
        withSecret,
      );
      expect(refused.code).toBe(2);
      expect(oneLine(refused)).toBe(`keyguard: ${line} (see keyguard --help)`);
    }
    expect(json(await run(["list-keys", "--json"])).items).toEqual([]);
  });
});
