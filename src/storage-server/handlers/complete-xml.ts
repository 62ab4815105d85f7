/**
 * @module storage-server/handlers/complete-xml
 * The CompleteMultipartUpload body (`<Part>` × up to 10,000), read with a dedicated scanner.
 *
 * Why not the generic parser (xml.ts): building a full object tree with fast-xml-parser costs tens of
 * microseconds per part, so for a 1 GB upload in 8 MB parts the XML alone cost more than the whole
 * rest of Complete (which is metadata only). The document is still checked for well-formedness by the
 * same validator first, so anything malformed is MalformedXML exactly as before; the scanner then
 * only picks the `Part` elements' text children out of a document known to be well-formed.
 */
import { XMLValidator } from "fast-xml-parser";
import type { ChecksumAlgorithm } from "../auth/index.js";
import type { RequestedPart } from "../store/multipart.js";
import type { Checksums } from "../store/types.js";
import { malformed } from "../xml.js";

const ELEMENTS: Readonly<Record<string, ChecksumAlgorithm>> = {
  ChecksumCRC32: "crc32",
  ChecksumCRC32C: "crc32c",
  ChecksumCRC64NVME: "crc64nvme",
  ChecksumSHA1: "sha1",
  ChecksumSHA256: "sha256",
};

/** `prefix:` of a namespaced element name, as the generic parser strips it (removeNSPrefix). */
const NAME = String.raw`(?:[\w.-]+:)?`;
const ROOT_RE = new RegExp(
  String.raw`^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<${NAME}CompleteMultipartUpload[\s>/]`,
);
const PART_RE = new RegExp(String.raw`<${NAME}Part(?:\s[^>]*)?(?:/>|>([\s\S]*?)</${NAME}Part\s*>)`, "g");
const CHILD_RE = new RegExp(String.raw`<${NAME}([\w.-]+)(?:\s[^>]*)?(?:/>|>([\s\S]*?)</${NAME}\1\s*>)`, "g");

const ENTITIES: Readonly<Record<string, string>> = { quot: '"', amp: "&", lt: "<", gt: ">", apos: "'" };

function decodeEntities(text: string): string {
  if (text.includes("<")) throw malformed(); // an element where text belongs
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, name: string) => {
    if (name[0] !== "#") return ENTITIES[name] ?? whole;
    const hex = name[1] === "x" || name[1] === "X";
    return String.fromCodePoint(hex ? parseInt(name.slice(2), 16) : Number(name.slice(1)));
  });
}

/** Element text: entities decoded, CDATA sections taken as they are. */
function decode(text: string): string {
  let out = "";
  let at = 0;
  for (const m of text.matchAll(/<!\[CDATA\[([\s\S]*?)\]\]>/g)) {
    out += decodeEntities(text.slice(at, m.index)) + m[1]!;
    at = m.index + m[0].length;
  }
  return out + decodeEntities(text.slice(at));
}

export function parseCompleteBody(xml: string): RequestedPart[] {
  if (xml.trim() === "" || XMLValidator.validate(xml) !== true || !ROOT_RE.test(xml)) throw malformed();
  const parts: RequestedPart[] = [];
  for (const part of xml.matchAll(PART_RE)) {
    let partNumber: string | undefined;
    let etag: string | undefined;
    const checksums: Checksums = {};
    for (const child of (part[1] ?? "").matchAll(CHILD_RE)) {
      const name = child[1]!;
      const value = child[2] === undefined ? "" : decode(child[2]);
      if (name === "PartNumber") partNumber = value;
      else if (name === "ETag") etag = value;
      else if (ELEMENTS[name] !== undefined && value.trim() !== "") checksums[ELEMENTS[name]] = value.trim();
    }
    if (partNumber === undefined || !/^\d+$/.test(partNumber.trim()) || etag === undefined) throw malformed();
    parts.push({
      partNumber: Number(partNumber.trim()),
      etag: etag.trim().replace(/^"(.*)"$/, "$1"),
      checksums,
    });
  }
  return parts;
}
