/**
 * @module storage-server
 * The embedded S3-compatible object store with zero-copy bucket forks (docs/architecture.md, "The embedded object store"): S3 core API,
 * the Tigris fork/snapshot API, SigV4 auth, durable storage in immutable blob files.
 */
export { startStorageServer } from "./listen.js";
export type { StorageServer, StorageServerOptions } from "./listen.js";
export type { GcReport } from "./store/index.js";
export type { Credentials } from "./auth/index.js";
export { S3Error } from "./errors.js";
