/**
 * The dedicated CompleteMultipartUpload body scanner (handlers/complete-xml.ts): what the generic XML
 * parser accepted it accepts (entities, CDATA, namespace prefixes, whitespace), and what was
 * MalformedXML still is.
 */
import { describe, expect, test } from "vitest";
import { S3Error } from "../../src/storage-server/errors.js";
import { parseCompleteBody } from "../../src/storage-server/handlers/complete-xml.js";

const wrap = (parts: string, root = "CompleteMultipartUpload") =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</${root}>`;

describe("parseCompleteBody", () => {
  test("reads part numbers, ETags (quoted, entity-escaped, CDATA) and checksums", () => {
    const xml = wrap(
      `<Part><PartNumber>1</PartNumber><ETag>&quot;aa&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>\n` +
        `  <Part>\n <ETag><![CDATA["bb"]]></ETag> <PartNumber> 2 </PartNumber></Part>` +
        `<Part><PartNumber>3</PartNumber><ETag>cc</ETag><ChecksumSHA256></ChecksumSHA256></Part>`,
    );
    expect(parseCompleteBody(xml)).toEqual([
      { partNumber: 1, etag: "aa", checksums: { crc32: "AAAAAA==" } },
      { partNumber: 2, etag: "bb", checksums: {} },
      { partNumber: 3, etag: "cc", checksums: {} },
    ]);
    const prefixed = `<s3:CompleteMultipartUpload xmlns:s3="x"><s3:Part><s3:PartNumber>7</s3:PartNumber><s3:ETag>"dd"</s3:ETag></s3:Part></s3:CompleteMultipartUpload>`;
    expect(parseCompleteBody(prefixed)).toEqual([{ partNumber: 7, etag: "dd", checksums: {} }]);
    expect(parseCompleteBody(wrap(""))).toEqual([]);
  });

  test.each([
    ["not XML", "hello"],
    ["unclosed", "<CompleteMultipartUpload><Part>"],
    ["another root", wrap("<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part>", "Delete")],
    ["an element inside PartNumber", wrap("<Part><PartNumber><x>1</x></PartNumber><ETag>a</ETag></Part>")],
    ["no ETag", wrap("<Part><PartNumber>1</PartNumber></Part>")],
    ["a non-numeric part number", wrap("<Part><PartNumber>one</PartNumber><ETag>a</ETag></Part>")],
    ["empty", ""],
  ])("%s is MalformedXML", (_, xml) => {
    let error: unknown;
    try {
      parseCompleteBody(xml);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("MalformedXML");
  });
});
