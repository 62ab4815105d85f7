/**
 * The Hrana-over-HTTP protocol, version 2 with JSON (what `@libsql/client` speaks to a `libsql://` or
 * `http(s)://` URL: `POST <url>/v2/pipeline`), served from a real SQLite file per database through the
 * `libsql` package. A stream is one SQLite connection; its baton is handed back on every response
 * until the client closes it, so transactions (`client.transaction()`) span requests as on Turso.
 *
 * Implemented: execute, batch (with conditions), sequence, describe, store_sql/close_sql,
 * get_autocommit, close. Not: cursors (v3), protobuf encoding.
 */
import type Database from "libsql";
import { randomBytes } from "node:crypto";
import { requireLibsql } from "../../src/native-sqlite.js";

type Conn = InstanceType<typeof Database>;
type HValue =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };
interface HStmt {
  sql?: string;
  sql_id?: number;
  args?: HValue[];
  named_args?: { name: string; value: HValue }[];
  want_rows?: boolean;
}
type HCond =
  | { type: "ok" | "error"; step: number }
  | { type: "not"; cond: HCond }
  | { type: "and" | "or"; conds: HCond[] }
  | { type: "is_autocommit" };
type HRequest =
  | { type: "execute"; stmt: HStmt }
  | { type: "batch"; batch: { steps: { condition?: HCond | null; stmt: HStmt }[] } }
  | { type: "sequence"; sql?: string; sql_id?: number }
  | { type: "describe"; sql?: string; sql_id?: number }
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" }
  | { type: "close" };

export interface HranaPipeline {
  readonly baton?: string | null;
  readonly requests: readonly HRequest[];
}

interface Stream {
  readonly conn: Conn;
  readonly sqls: Map<number, string>;
  /** The file it reads and writes, for the caller's snapshots. */
  readonly file: string;
}

const decode = (v: HValue): unknown => {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Buffer.from(v.base64, "base64");
  }
};

const encode = (v: unknown): HValue => {
  if (v === null || v === undefined) return { type: "null" };
  if (typeof v === "bigint") return { type: "integer", value: v.toString() };
  if (typeof v === "number") {
    return Number.isInteger(v) ? { type: "integer", value: String(v) } : { type: "float", value: v };
  }
  if (typeof v === "string") return { type: "text", value: v };
  if (v instanceof Uint8Array) return { type: "blob", base64: Buffer.from(v).toString("base64") };
  return { type: "text", value: String(v) };
};

class StmtError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const asError = (e: unknown) => ({
  message: e instanceof Error ? e.message : String(e),
  code: (e as { code?: string }).code ?? "SQLITE_ERROR",
});

/** Serves pipelines for many databases; `open(file)` is how a new stream reaches one. */
export class HranaServer {
  readonly #streams = new Map<string, Stream>();
  readonly #Database = requireLibsql();

  /**
   * Run one pipeline on `file` (the database the URL named, already authorised). `wrote` tells the
   * caller the pipeline changed the database with no transaction left open: a moment to snapshot.
   */
  pipeline(file: string, body: HranaPipeline): { status: number; body: unknown; wrote: boolean } {
    let stream: Stream | undefined;
    if (body.baton) {
      stream = this.#streams.get(body.baton);
      this.#streams.delete(body.baton);
      if (!stream || stream.file !== file) {
        return {
          status: 400,
          body: { message: "unknown or expired baton", code: "STREAM_EXPIRED" },
          wrote: false,
        };
      }
    } else {
      const conn = new this.#Database(file, { timeout: 5000 });
      stream = { conn, sqls: new Map(), file };
    }
    let wrote = false;
    let closed = false;
    const results = body.requests.map((req) => {
      try {
        if (req.type === "close") {
          closed = true;
          return { type: "ok", response: { type: "close" } };
        }
        const response = this.#handle(stream, req, () => (wrote = true));
        return { type: "ok", response };
      } catch (e) {
        return { type: "error", error: asError(e) };
      }
    });
    const autocommit = !stream.conn.inTransaction;
    let baton: string | null = null;
    if (closed) {
      // Closing with a transaction open rolls it back, as closing a connection does.
      stream.conn.close();
    } else {
      baton = randomBytes(12).toString("hex");
      this.#streams.set(baton, stream);
    }
    return { status: 200, body: { baton, base_url: null, results }, wrote: wrote && autocommit };
  }

  /** Close every stream of `file` (its database is being deleted). */
  closeFile(file: string): void {
    for (const [baton, s] of this.#streams) {
      if (s.file === file) {
        s.conn.close();
        this.#streams.delete(baton);
      }
    }
  }

  close(): void {
    for (const s of this.#streams.values()) s.conn.close();
    this.#streams.clear();
  }

  #sql(stream: Stream, o: { sql?: string; sql_id?: number }): string {
    if (o.sql !== undefined) return o.sql;
    const stored = o.sql_id === undefined ? undefined : stream.sqls.get(o.sql_id);
    if (stored === undefined)
      throw new StmtError("no SQL text and no stored SQL of that id", "SQL_NOT_FOUND");
    return stored;
  }

  #handle(stream: Stream, req: HRequest, wrote: () => void): unknown {
    switch (req.type) {
      case "execute":
        return { type: "execute", result: this.#execute(stream, req.stmt, wrote) };
      case "batch": {
        const step_results: unknown[] = [];
        const step_errors: unknown[] = [];
        const holds = (c: HCond): boolean => {
          switch (c.type) {
            case "ok":
              return step_results[c.step] != null;
            case "error":
              return step_errors[c.step] != null;
            case "not":
              return !holds(c.cond);
            case "and":
              return c.conds.every(holds);
            case "or":
              return c.conds.some(holds);
            case "is_autocommit":
              return !stream.conn.inTransaction;
          }
        };
        for (const step of req.batch.steps) {
          if (step.condition && !holds(step.condition)) {
            step_results.push(null);
            step_errors.push(null);
            continue;
          }
          try {
            step_results.push(this.#execute(stream, step.stmt, wrote));
            step_errors.push(null);
          } catch (e) {
            step_results.push(null);
            step_errors.push(asError(e));
          }
        }
        return { type: "batch", result: { step_results, step_errors } };
      }
      case "sequence":
        stream.conn.exec(this.#sql(stream, req));
        wrote();
        return { type: "sequence" };
      case "describe": {
        const stmt = stream.conn.prepare(this.#sql(stream, req));
        const cols = stmt.reader
          ? stmt.columns().map((c) => ({ name: c.name, decltype: c.type ?? null }))
          : [];
        return {
          type: "describe",
          result: { params: [], cols, is_explain: false, is_readonly: stmt.reader },
        };
      }
      case "store_sql":
        stream.sqls.set(req.sql_id, req.sql);
        return { type: "store_sql" };
      case "close_sql":
        stream.sqls.delete(req.sql_id);
        return { type: "close_sql" };
      case "get_autocommit":
        return { type: "get_autocommit", is_autocommit: !stream.conn.inTransaction };
    }
  }

  #execute(stream: Stream, s: HStmt, wrote: () => void) {
    const stmt = stream.conn.prepare(this.#sql(stream, s));
    const positional = (s.args ?? []).map(decode);
    const named = Object.fromEntries(
      (s.named_args ?? []).map((a) => [a.name.replace(/^[:@$]/, ""), decode(a.value)]),
    );
    const params: unknown[] = Object.keys(named).length > 0 ? [...positional, named] : positional;
    if (stmt.reader) {
      stmt.raw(true);
      stmt.safeIntegers(true);
      const rows = stmt.all(...params) as unknown[][];
      return {
        cols: stmt.columns().map((c) => ({ name: c.name, decltype: c.type ?? null })),
        rows: s.want_rows === false ? [] : rows.map((r) => r.map(encode)),
        affected_row_count: 0,
        last_insert_rowid: null,
        rows_read: rows.length,
        rows_written: 0,
      };
    }
    const run = stmt.run(...params);
    wrote();
    return {
      cols: [],
      rows: [],
      affected_row_count: run.changes,
      last_insert_rowid: String(run.lastInsertRowid),
      rows_read: 0,
      rows_written: run.changes,
    };
  }
}
