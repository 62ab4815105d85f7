/**
 * `docs/errors.md` documents the one table of error codes and exit codes (`ERROR_CODES` in
 * src/errors.ts). This keeps the two equal: a code added to the table without its line in the doc
 * (or a changed exit code) fails here, with the expected table printed.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import { REPO } from "../helpers/project.js";

function expectedTable(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, { exit, when }]) => `| \`${code}\` | ${exit} | ${when} |`,
  );
  return ["| code | exit | when |", "| --- | --- | --- |", ...rows].join("\n");
}

/** The doc's table, with prettier's column padding taken out. */
function docTable(markdown: string): string {
  const start = markdown.indexOf("<!-- error-table -->");
  const end = markdown.indexOf("<!-- /error-table -->");
  return markdown
    .slice(start, end)
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) =>
      line
        .split("|")
        .map((cell) => cell.trim())
        .map((cell) => (/^-+:?$/.test(cell) ? "---" : cell))
        .join(" | ")
        .trim(),
    )
    .join("\n");
}

it("docs/errors.md lists every error code with the exit code the CLI uses", async () => {
  const doc = await readFile(join(REPO, "docs/errors.md"), "utf8");
  const normalise = (table: string) => table.replace(/ +/g, " ").replace(/\| \|/g, "||");
  expect(normalise(docTable(doc)), `expected in docs/errors.md:\n${expectedTable()}`).toBe(
    normalise(docTable(`<!-- error-table -->\n${expectedTable()}\n<!-- /error-table -->`)),
  );
});
