/**
 * Preloaded into a process the test starts (`clockAhead(ms)` in test/helpers/clock-ahead.ts puts it in
 * NODE_OPTIONS): its wall clock reads FS_TEST_CLOCK_AHEAD_MS later than the machine's, as if the user
 * ran the command that much later. What a ttl test needs instead of sleeping until a ttl has passed.
 */
const ahead = Number(process.env.FS_TEST_CLOCK_AHEAD_MS);
if (Number.isFinite(ahead) && ahead !== 0) {
  const Wall = Date;
  globalThis.Date = class extends Wall {
    constructor(...args) {
      if (args.length === 0) super(Wall.now() + ahead);
      else super(...args);
    }
    static now() {
      return Wall.now() + ahead;
    }
  };
}
