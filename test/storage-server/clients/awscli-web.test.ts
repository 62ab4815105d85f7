/**
 * The aws CLI setting up a bucket for browser apps, as a deploy script would: a public-read object
 * (`s3 cp --acl`), a public bucket (`s3api create-bucket --acl`), CORS rules (`s3api put-bucket-cors`)
 * and ACL reads back; then plain unsigned HTTP checks what a browser would be allowed to do.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  findAwsClis,
  ok,
  startClientEnv,
  uniqueBucket,
  type ClientEnv,
  CLIENT_TEST_TIMEOUT_MS,
} from "./harness.js";

const clis = findAwsClis();

describe.skipIf(clis.length === 0).each(clis)(
  "$label",
  { timeout: CLIENT_TEST_TIMEOUT_MS },
  ({ label, path }) => {
    let env: ClientEnv;
    let baseEnv: Record<string, string>;

    const aws = (args: readonly string[]): Promise<string> =>
      ok(path, ["--endpoint-url", env.server.url, ...args], baseEnv);
    const anon = (method: string, urlPath: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${env.server.url}${urlPath}`, { method, headers });

    beforeAll(async () => {
      env = await startClientEnv();
      baseEnv = {
        HOME: join(env.dir, "home"),
        AWS_ACCESS_KEY_ID: env.creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: env.creds.secretAccessKey,
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_CONFIG_FILE: join(env.dir, "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(env.dir, "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_PAGER: "",
      };
    });

    afterAll(async () => {
      await env?.close();
    });

    it("s3 cp --acl public-read makes exactly that object readable without credentials", async () => {
      const bucket = uniqueBucket("cliacl");
      await aws(["s3", "mb", `s3://${bucket}`]);
      const file = join(env.dir, `${label.replace(/\W/g, "_")}-avatar.txt`);
      await writeFile(file, "avatar");
      await aws(["s3", "cp", file, `s3://${bucket}/public/avatar.txt`, "--acl", "public-read"]);
      await aws(["s3", "cp", file, `s3://${bucket}/private/avatar.txt`]);
      const pub = await anon("GET", `/${bucket}/public/avatar.txt`);
      expect(pub.status).toBe(200);
      expect(await pub.text()).toBe("avatar");
      expect((await anon("GET", `/${bucket}/private/avatar.txt`)).status).toBe(403);
      expect((await anon("GET", `/${bucket}?list-type=2`)).status).toBe(403);
      const acl = JSON.parse(
        await aws([
          "s3api",
          "get-object-acl",
          "--bucket",
          bucket,
          "--key",
          "public/avatar.txt",
          "--output",
          "json",
        ]),
      ) as { Grants: { Grantee: { URI?: string }; Permission: string }[] };
      expect(acl.Grants.some((g) => g.Grantee.URI?.endsWith("/AllUsers") && g.Permission === "READ")).toBe(
        true,
      );
      await aws([
        "s3api",
        "put-object-acl",
        "--bucket",
        bucket,
        "--key",
        "public/avatar.txt",
        "--acl",
        "private",
      ]);
      expect((await anon("GET", `/${bucket}/public/avatar.txt`)).status).toBe(403);
    });

    it("create-bucket --acl public-read and put-bucket-cors: browser reads and preflights answered", async () => {
      const bucket = uniqueBucket("cliweb");
      await aws(["s3api", "create-bucket", "--bucket", bucket, "--acl", "public-read"]);
      const cors = join(env.dir, `${label.replace(/\W/g, "_")}-cors.json`);
      await writeFile(
        cors,
        JSON.stringify({
          CORSRules: [
            {
              AllowedOrigins: ["http://app.example"],
              AllowedMethods: ["GET", "PUT"],
              ExposeHeaders: ["ETag"],
            },
          ],
        }),
      );
      await aws(["s3api", "put-bucket-cors", "--bucket", bucket, "--cors-configuration", `file://${cors}`]);
      const got = JSON.parse(
        await aws(["s3api", "get-bucket-cors", "--bucket", bucket, "--output", "json"]),
      ) as {
        CORSRules: { AllowedOrigins: string[] }[];
      };
      expect(got.CORSRules[0]!.AllowedOrigins).toEqual(["http://app.example"]);
      const file = join(env.dir, `${label.replace(/\W/g, "_")}-page.html`);
      await writeFile(file, "<p>hi</p>");
      await aws(["s3", "cp", file, `s3://${bucket}/index.html`, "--content-type", "text/html"]);

      const page = await anon("GET", `/${bucket}/index.html`, { Origin: "http://app.example" });
      expect(page.status).toBe(200);
      expect(page.headers.get("access-control-allow-origin")).toBe("http://app.example");
      expect(page.headers.get("access-control-expose-headers")).toBe("ETag");
      const allowed = await anon("OPTIONS", `/${bucket}/index.html`, {
        Origin: "http://app.example",
        "Access-Control-Request-Method": "PUT",
      });
      expect(allowed.status).toBe(200);
      const denied = await anon("OPTIONS", `/${bucket}/index.html`, {
        Origin: "http://other.example",
        "Access-Control-Request-Method": "GET",
      });
      expect(denied.status).toBe(403);
      // Readable, listable, but never writable anonymously.
      expect((await anon("GET", `/${bucket}?list-type=2`)).status).toBe(200);
      expect((await anon("PUT", `/${bucket}/index.html`)).status).toBe(403);
      await aws(["s3api", "delete-bucket-cors", "--bucket", bucket]);
      const gone = await anon("OPTIONS", `/${bucket}/index.html`, {
        Origin: "http://app.example",
        "Access-Control-Request-Method": "GET",
      });
      expect(gone.status).toBe(403);
    });
  },
);
