/**
 * @module storage-server/handlers/conditional
 * Conditional writes as S3 documents them for PutObject, CopyObject and CompleteMultipartUpload:
 * `If-None-Match` takes only `*` (create-only), `If-Match` takes an ETag (replace-only, and 404
 * NoSuchKey when there is nothing to replace). Anything else in those headers is a feature S3 does not
 * have, answered 501 NotImplemented as S3 does.
 *
 * A condition is checked twice: up front (412 before a byte of the body is read, so a doomed upload
 * is never sent) and again atomically with the commit. If it held up front but not at the commit,
 * another write changed the key while this one was uploading: that is S3's 409
 * ConditionalRequestConflict ("retry"), not a 412 ("your condition is false").
 */
import { S3Error } from "../errors.js";
import type { Ctx } from "../http.js";
import { header } from "../http.js";
import type { Precondition } from "../store/objects.js";
import { noSuchKey, preconditionFailed } from "./common.js";

export interface WriteConditions {
  /** The check against the current object, throwing 412 / 404 as S3 answers a false condition. */
  readonly check: Precondition;
  /** The same check for the commit of a write whose `check` passed before its upload: 409 if false. */
  readonly atCommit: Precondition;
}

function notImplementedHeader(name: string): S3Error {
  return new S3Error(
    "NotImplemented",
    "A header you provided implies functionality that is not implemented",
    501,
    {
      Header: name,
    },
  );
}

function conflict(): S3Error {
  return new S3Error(
    "ConditionalRequestConflict",
    "A conflicting conditional operation is currently in progress against this resource. Please try again.",
    409,
  );
}

const bare = (etag: string): string =>
  etag
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");

/** The request's write conditions (validated now), or undefined when it has none. */
export function writeConditions(ctx: Ctx): WriteConditions | undefined {
  const inm = header(ctx, "if-none-match")?.trim();
  const im = header(ctx, "if-match")?.trim();
  if (inm === undefined && im === undefined) return undefined;
  if (inm !== undefined && im !== undefined) throw notImplementedHeader("If-Match");
  if (inm !== undefined && inm !== "*") throw notImplementedHeader("If-None-Match");
  const key = ctx.key ?? "";
  const check: Precondition = (current) => {
    if (inm !== undefined) {
      if (current) throw preconditionFailed("If-None-Match");
      return;
    }
    if (!current) throw noSuchKey(key);
    const wanted = im!.split(",").map(bare);
    if (!wanted.includes("*") && !wanted.includes(bare(current.etag))) throw preconditionFailed("If-Match");
  };
  const atCommit: Precondition = (current) => {
    try {
      check(current);
    } catch (error) {
      throw error instanceof S3Error ? conflict() : error;
    }
  };
  return { check, atCommit };
}
