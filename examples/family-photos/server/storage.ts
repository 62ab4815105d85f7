/**
 * Photos in the env's bucket. The browser uploads an original straight to the bucket with a presigned
 * POST (the server never carries the bytes in), the server makes a thumbnail of it with sharp and
 * stores that beside it, and the feed shows thumbnails by presigned GET URLs. The same code runs on
 * the embedded object store, Tigris, S3 or R2: `storageConfig()` and `bucketName()` say which.
 */
import { GetObjectCommand, PutBucketCorsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createPresignedPost, type PresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { bucketName, storageConfig } from "forkstack";
import sharp from "sharp";

export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
const THUMB_SIZE = 480;

export class PhotoStore {
  readonly bucket = bucketName();
  // Presigned URLs must not carry a checksum of an empty body, which the SDK's default would add.
  private readonly s3 = new S3Client({ ...storageConfig(), requestChecksumCalculation: "WHEN_REQUIRED" });
  private readonly origins = new Set<string>();

  /**
   * Let pages of `origin` upload to and read from the bucket. A bucket answers a browser only as its
   * CORS rules say, so the app sets them for each origin it is served from (localhost, a tunnel, …).
   */
  async allowOrigin(origin: string): Promise<void> {
    if (this.origins.has(origin)) return;
    this.origins.add(origin);
    await this.s3.send(
      new PutBucketCorsCommand({
        Bucket: this.bucket,
        CORSConfiguration: {
          CORSRules: [
            { AllowedOrigins: [...this.origins], AllowedMethods: ["GET", "POST"], AllowedHeaders: ["*"] },
          ],
        },
      }),
    );
  }

  /** A form upload the browser posts straight to the bucket: this key, an image, at most 20 MB. */
  uploadTicket(key: string, contentType: string): Promise<PresignedPost> {
    return createPresignedPost(this.s3, {
      Bucket: this.bucket,
      Key: key,
      Fields: { "Content-Type": contentType },
      Conditions: [["content-length-range", 1, MAX_UPLOAD_BYTES]],
      Expires: 300,
    });
  }

  /**
   * Read the uploaded original, store a WebP thumbnail at `thumbKey`; returns the original's size.
   * Undefined when nothing was uploaded at `originalKey`.
   */
  async makeThumbnail(
    originalKey: string,
    thumbKey: string,
  ): Promise<{ width: number; height: number } | undefined> {
    let original: Uint8Array;
    try {
      const got = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: originalKey }));
      original = await got.Body!.transformToByteArray();
    } catch (error) {
      if ((error as { name?: string }).name === "NoSuchKey") return undefined;
      throw error;
    }
    const image = sharp(original).autoOrient(); // as the camera held it (EXIF orientation)
    const { width, height } = (await image.metadata()).autoOrient;
    const thumb = await image
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: "inside", withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: thumbKey, Body: thumb, ContentType: "image/webp" }),
    );
    return { width, height };
  }

  /** A URL the browser can GET `key` from for an hour (the bucket itself stays private). */
  viewUrl(key: string): Promise<string> {
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: 3600,
    });
  }

  close(): void {
    this.s3.destroy();
  }
}
