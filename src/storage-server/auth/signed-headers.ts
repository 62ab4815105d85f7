/**
 * @module storage-server/auth/signed-headers
 * Which request headers a signature must cover: one rule for header auth, presigned URLs and
 * anonymous requests (docs/storage.md, "What the store requires signed").
 *
 * S3 refuses a request carrying an `x-amz-*` header its signature does not cover (403 AccessDenied,
 * "There were headers present in the request which were not signed", `HeadersNotSigned`). Without
 * that rule whoever holds a presigned PUT URL could add `x-amz-copy-source` and `x-amz-acl` to it and
 * publish another bucket's private object under the signed key. The Tigris headers this server acts
 * on (forks, snapshots, snapshot reads, force delete) are held to the same rule. Plain HTTP headers
 * (Content-Type, Content-MD5, Cache-Control, If-Match …) need no signature, as on S3: they describe
 * or guard the one object the signature names and cannot reach another key or bucket.
 */
import type { IncomingHttpHeaders } from "node:http";
import { S3Error } from "../errors.js";
import { latin1ToUtf8 } from "./sigv4.js";

/** `x-tigris-*`, and `Tigris-Force-Delete`, which Tigris spells without the `x-`. */
export function isTigrisHeader(name: string): boolean {
  return name.startsWith("x-tigris-") || name.startsWith("tigris-");
}

/** A header that must be covered by the signature whenever it is present. */
export function mustBeSigned(name: string): boolean {
  return name.startsWith("x-amz-") || isTigrisHeader(name);
}

/** A header's value as the client wrote it: repeated headers joined, UTF-8 bytes decoded. */
export function headerText(value: string | string[] | undefined): string {
  return latin1ToUtf8(Array.isArray(value) ? value.join(",") : (value ?? "")).trim();
}

/**
 * Throws S3's AccessDenied naming every header `select` picks (by default: those that must be signed)
 * that `covered` does not vouch for, in the order the request sent them.
 */
export function refuseUnsignedHeaders(
  headers: IncomingHttpHeaders,
  covered: (name: string, value: string) => boolean,
  select: (name: string) => boolean = mustBeSigned,
): void {
  const unsigned = Object.entries(headers)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .filter(([name, value]) => value !== undefined && select(name) && !covered(name, headerText(value)))
    .map(([name]) => name);
  if (unsigned.length > 0) {
    throw new S3Error(
      "AccessDenied",
      "There were headers present in the request which were not signed",
      403,
      { HeadersNotSigned: unsigned.join(", ") },
    );
  }
}
