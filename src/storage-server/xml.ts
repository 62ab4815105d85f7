/**
 * @module storage-server/xml
 * XML in and out via fast-xml-parser: requests are validated first (anything malformed is
 * `MalformedXML`, as S3 answers) and parsed with every value kept as a string; responses are built
 * from plain objects so escaping is never done by hand.
 */
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { S3Error } from "./errors.js";

export const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";

const builder = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: false, processEntities: true });

/** Elements that may repeat in request bodies; always parsed as arrays so one item looks like many. */
const REPEATED = new Set([
  "Object",
  "Part",
  "Tag",
  "CORSRule",
  "AllowedOrigin",
  "AllowedMethod",
  "AllowedHeader",
  "ExposeHeader",
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: false,
  htmlEntities: true,
  isArray: (name) => REPEATED.has(name),
});

export type XmlValue = string | number | boolean | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

/**
 * `<?xml …?><root xmlns=S3_NS>…</root>`. Control characters (keys may hold any but NUL) cannot appear
 * raw in XML 1.0, and a raw CR would be read back as LF: like S3, they are written as character
 * references (`&#13;`). The builder emits no control characters of its own (no indentation), so any
 * in the output came from a value.
 */
export function buildXml(root: string, body: XmlObject, namespace = true): string {
  const content = namespace ? { "@_xmlns": S3_NS, ...body } : body;
  const xml = builder.build({
    "?xml": { "@_version": "1.0", "@_encoding": "UTF-8" },
    [root]: content,
  }) as string;
  // eslint-disable-next-line no-control-regex
  return xml.replace(/[\x00-\x08\x0b-\x1f]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function malformed(): S3Error {
  return new S3Error(
    "MalformedXML",
    "The XML you provided was not well-formed or did not validate against our published schema",
    400,
  );
}

/** Parses a request body; `root` must be its document element. */
export function parseXml(text: string, root: string): Record<string, unknown> {
  if (text.trim() === "" || XMLValidator.validate(text) !== true) throw malformed();
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(text) as Record<string, unknown>;
  } catch {
    throw malformed();
  }
  const node = doc[root];
  if (node === undefined) throw malformed();
  // `<Root/>` parses as "", which is an empty element, not a missing one.
  if (node === "") return {};
  if (typeof node !== "object" || node === null || Array.isArray(node)) throw malformed();
  return node as Record<string, unknown>;
}

/** A child element that must be a string (or absent). */
export function text(node: Record<string, unknown>, name: string): string | undefined {
  const v = node[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw malformed();
  return v;
}

/** A repeated child element as a list of element objects. */
export function list(node: Record<string, unknown>, name: string): Record<string, unknown>[] {
  const v = node[name];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw malformed();
  return v.map((item) => {
    if (item === "") return {};
    if (typeof item !== "object" || item === null) throw malformed();
    return item as Record<string, unknown>;
  });
}

/** A repeated child element whose items are plain text. */
export function textList(node: Record<string, unknown>, name: string): string[] {
  const v = node[name];
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.map((item) => {
    if (typeof item !== "string") throw malformed();
    return item;
  });
}

/** ISO-8601 with milliseconds, as S3 writes LastModified / CreationDate. */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}
