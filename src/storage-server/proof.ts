/**
 * @module storage-server/proof
 * How the CLI tells this project's storage server from anything else on its port.
 *
 * `Server: forkstack` and a 200 prove nothing: any program can answer that (a fake server on the port
 * then received an app's uploads). So the CLI sends a fresh random nonce in `x-forkstack-challenge`
 * on a request signed with the project's key, and the server answers
 * `x-forkstack-proof: hex(HMAC-SHA256(secret key, "forkstack-server-proof/v1\n" + nonce + "\n" + port))`.
 * Only a process holding the project's secret key can compute it. The port is the one the connection
 * arrived on, so a program on the project's port cannot pass the challenge on to the real server on
 * another port and replay its answer. Requests that are not authenticated with a known key get no proof.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Credentials } from "./auth/index.js";

export const CHALLENGE_HEADER = "x-forkstack-challenge";
export const PROOF_HEADER = "x-forkstack-proof";
const NONCE_RE = /^[0-9a-f]{32,128}$/i;

export function serverProof(secretAccessKey: string, nonce: string, port: number): string {
  return createHmac("sha256", secretAccessKey)
    .update(`forkstack-server-proof/v1\n${nonce}\n${port}`)
    .digest("hex");
}

/** Constant-time check of a proof a server sent (any malformed value is simply wrong). */
export function proofMatches(expected: string, received: string | undefined): boolean {
  if (received === undefined || !/^[0-9a-f]{64}$/.test(received)) return false;
  return timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(received, "hex"));
}

/** Adds the proof header to `res` when `req` carries a challenge and was signed with a known key. */
export function answerChallenge(
  req: IncomingMessage,
  res: ServerResponse,
  accessKeyId: string,
  lookup: (accessKeyId: string) => Credentials | undefined,
): void {
  const nonce = req.headers[CHALLENGE_HEADER];
  if (typeof nonce !== "string" || !NONCE_RE.test(nonce) || accessKeyId === "") return;
  const creds = lookup(accessKeyId);
  const port = req.socket.localPort;
  if (!creds || port === undefined) return;
  res.setHeader(PROOF_HEADER, serverProof(creds.secretAccessKey, nonce, port));
}
