/**
 * The CLI's view of a copy fork's progress: objects, bytes, rate and ETA on the resource's line, redrawn
 * on a terminal; in CI (no live terminal) a copy prints a progress line only once it has run a while.
 */
import { Writable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { createProgress, describeCopy } from "../../src/cli/progress.js";
import type { Io } from "../../src/cli/output.js";

function fakeIo(live: boolean): Io & { text: () => string } {
  let written = "";
  const stderr = new Writable({
    write(chunk: Buffer, _enc, done) {
      written += chunk.toString();
      done();
    },
  });
  return {
    stdout: stderr,
    stderr,
    color: false,
    live,
    out: () => undefined,
    err: (text) => void (written += `${text}\n`),
    paint: (_style, text) => text,
    text: () => written,
  };
}

describe("cli: copy progress", () => {
  it("says objects, bytes, rate and ETA once the listing is done", () => {
    expect(
      describeCopy({
        objects: 4_000,
        bytes: 4 * 1024 * 1024,
        totalObjects: 10_000,
        totalBytes: 10 * 1024 * 1024,
        listed: true,
        elapsedMs: 2_000,
      }),
    ).toBe("copying 4,000/10,000 objects · 4.0 MB/10.0 MB · 2,000 objects/s · 2.0 MB/s · ETA 3.00 s");
    // Still listing: the totals are lower bounds and there is no ETA yet.
    expect(
      describeCopy({
        objects: 10,
        bytes: 10,
        totalObjects: 1_000,
        totalBytes: 1_000,
        listed: false,
        elapsedMs: 1_000,
      }),
    ).toBe("copying 10/1,000+ objects · 10 B/1000 B+ · 10 objects/s · 10 B/s");
  });

  it("a terminal redraws the resource's line; CI prints a line only every few seconds", () => {
    vi.useFakeTimers();
    try {
      const progress = {
        objects: 1,
        bytes: 1,
        totalObjects: 2,
        totalBytes: 2,
        listed: true,
        elapsedMs: 1_000,
      };
      const live = fakeIo(true);
      const onLive = createProgress(live, "forking");
      onLive.onStep({ kind: "storage", provider: "s3", phase: "start" });
      onLive.onStep({ kind: "storage", provider: "s3", phase: "progress", progress });
      onLive.stop();
      expect(live.text()).toContain("storage (s3)");
      expect(live.text()).toContain("copying 1/2 objects");

      const plain = fakeIo(false);
      const onPlain = createProgress(plain, "forking");
      onPlain.onStep({ kind: "storage", provider: "s3", phase: "start" });
      onPlain.onStep({ kind: "storage", provider: "s3", phase: "progress", progress });
      expect(plain.text()).toBe("");
      vi.advanceTimersByTime(6_000);
      onPlain.onStep({ kind: "storage", provider: "s3", phase: "progress", progress });
      expect(plain.text()).toContain("copying 1/2 objects");
      onPlain.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
