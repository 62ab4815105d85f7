/**
 * `docs/errors.md` and `docs/troubleshooting.md` document the one table of error codes (`ERROR_CODES`
 * in src/errors.ts): code, exit code, when it happens, and (troubleshooting) what to do. This keeps
 * the docs equal to it: a code added to the table without its line in a doc (or a changed exit code or
 * text) fails here, with the expected table printed. `FORKSTACK_UPDATE_DOCS=1` writes the tables in.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import { REPO } from "../helpers/project.js";

const entries = Object.entries(ERROR_CODES);

const DOCS = {
  "docs/errors.md": {
    marker: "error-table",
    table: [
      "| code | exit | when |",
      "| --- | --- | --- |",
      ...entries.map(([code, { exit, when }]) => `| \`${code}\` | ${exit} | ${when} |`),
    ],
  },
  "docs/troubleshooting.md": {
    marker: "troubleshooting-table",
    table: [
      "| code | exit | what it means | what to do |",
      "| --- | --- | --- | --- |",
      ...entries.map(([code, { exit, when, fix }]) => `| \`${code}\` | ${exit} | ${when} | ${fix} |`),
    ],
  },
};

/** The table between the doc's markers, with prettier's column padding taken out. */
function docTable(markdown: string, marker: string): string {
  const start = markdown.indexOf(`<!-- ${marker} -->`);
  const end = markdown.indexOf(`<!-- /${marker} -->`);
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

const normalise = (table: string) => table.replace(/ +/g, " ").replace(/\| \|/g, "||");

it.each(Object.entries(DOCS))(
  "%s lists every error code as the CLI has it",
  async (path, { marker, table }) => {
    const file = join(REPO, path);
    let doc = await readFile(file, "utf8");
    const expected = table.join("\n");
    if (process.env.FORKSTACK_UPDATE_DOCS) {
      const start = doc.indexOf(`<!-- ${marker} -->`) + `<!-- ${marker} -->`.length;
      doc = `${doc.slice(0, start)}\n\n${expected}\n\n${doc.slice(doc.indexOf(`<!-- /${marker} -->`))}`;
      await writeFile(file, doc); // prettier --write aligns the columns
    }
    expect(normalise(docTable(doc, marker)), `expected in ${path}:\n${expected}`).toBe(
      normalise(docTable(`<!-- ${marker} -->\n${expected}\n<!-- /${marker} -->`, marker)),
    );
  },
);
