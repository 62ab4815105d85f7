/**
 * Requests written byte by byte on a socket, for what an HTTP client library will not send as is
 * (absolute-form targets, `Expect: 100-continue` with control over when the body goes out).
 */
import { connect } from "node:net";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { CREDS } from "./helpers.js";

/** SigV4 headers (signed by the SDK's own signer) for a request sent by hand. */
export async function signHeaders(
  serverUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  payloadHash: string,
  query: Record<string, string> = {},
): Promise<Record<string, string>> {
  const u = new URL(serverUrl);
  const signer = new SignatureV4({
    credentials: CREDS,
    region: "auto",
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: u.hostname,
    port: Number(u.port),
    path,
    query,
    headers: { host: u.host, "x-amz-content-sha256": payloadHash, ...headers },
  });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) out[k] = String(v);
  return out;
}

export function requestHead(method: string, target: string, headers: Record<string, string>): string {
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

export interface WireReply {
  /** Every status line the server sent, interim ones (100) included, in order. */
  readonly statuses: number[];
  /** Everything the server sent, as text. */
  readonly text: string;
  /** Whether the body was written (it is held back until a 100 arrives when `waitFor100`). */
  readonly bodySent: boolean;
}

/**
 * Writes `head`, then `body` — right away, or only once a `100 Continue` arrives (`waitFor100`) —
 * and collects the reply until the server closes or `Connection: close` is implied by the test
 * sending it. Resolves after the final (non-1xx) response is complete or the socket closes.
 */
export function exchange(
  serverUrl: string,
  head: string,
  body: Buffer = Buffer.alloc(0),
  waitFor100 = false,
): Promise<WireReply> {
  const u = new URL(serverUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let text = "";
    let bodySent = false;
    const statuses = (): number[] => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
    const done = (): void => {
      socket.destroy();
      resolve({ statuses: statuses(), text, bodySent });
    };
    socket.on("connect", () => {
      socket.write(head);
      if (!waitFor100) {
        socket.write(body);
        bodySent = true;
      }
    });
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (waitFor100 && !bodySent && /^HTTP\/1\.1 100/m.test(text)) {
        socket.write(body);
        bodySent = true;
      }
      // A final response is complete once its declared body has arrived.
      const finals = [...text.matchAll(/^HTTP\/1\.1 ([2-5]\d\d)[^]*?\r\n\r\n/gm)];
      const last = finals[finals.length - 1];
      if (last) {
        const len = /content-length: (\d+)/i.exec(last[0]);
        const start = last.index + last[0].length;
        if (len && text.length - start >= Number(len[1])) done();
      }
    });
    socket.on("error", reject);
    socket.on("close", done);
  });
}
