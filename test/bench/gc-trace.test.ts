import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseGcEvents, summarize } from "../../bench/gc-trace.js";

const run = promisify(execFile);

/** Real --trace-gc-nvp output of this node: young garbage, and native objects (hashes) dying young. */
async function traceOf(script: string): Promise<string> {
  const { stdout } = await run(process.execPath, ["--trace-gc", "--trace-gc-nvp", "--max-semi-space-size=1", "-e", script]);
  return stdout;
}

describe("bench/gc-trace.ts reads V8's own GC trace", () => {
  it("counts scavenges and the native objects that died in them, from a real trace", async () => {
    const trace = await traceOf(`
      const { createHash } = require("node:crypto");
      let keep = [];
      for (let i = 0; i < 200000; i++) {
        keep.push({ i, digest: createHash("sha256").update(String(i)).digest("hex") });
        if (keep.length > 500) keep = [];
      }
      console.log('{"msg":"a log line between them is skipped"}');
    `);
    const events = parseGcEvents(trace);
    const scavenges = events.filter((event) => event.kind === "s");
    expect(scavenges.length).toBeGreaterThan(5);
    expect(events.length).toBeLessThan(trace.split("\n").length);
    const summary = summarize(events, 200_000);
    expect(summary.scavenges).toBe(scavenges.length);
    expect(summary.scavengePauseMicros).toBeGreaterThan(0);
    // Each createHash makes a native Hash object; nearly all die young.
    expect(summary.nativeObjectsDied).toBeGreaterThan(0.5);
    expect(summary.nativeObjectsDied).toBeLessThanOrEqual(1);
  });

  it("sums fields per exchange in µs and per scavenge in KB", () => {
    const line = (kind: string, fields: string) => `[1:0x1]   9 ms: pause=2.5 mutator=1.0 gc=${kind} ${fields}`;
    const events = parseGcEvents(
      [
        line("s", "background.scavenge.parallel=3.0 heap.external_weak_global_handles=0.5 nodes_died_in_new=100 new_space_survived=1048576 promoted=2048 promotion_rate=24.3%"),
        line("s", "background.scavenge.parallel=1.0 heap.external_weak_global_handles=0.5 nodes_died_in_new=100 new_space_survived=0 promoted=204800"),
        line("mc", "mark=1.0"),
        '{"level":30,"msg":"gc=s is not a trace line"}',
      ].join("\n"),
    );
    expect(summarize(events, 100)).toEqual({
      scavenges: 2,
      scavengePauseMicros: 50,
      scavengeHelperMicros: 40,
      weakHandleMicros: 10,
      nativeObjectsDied: 2,
      survivedKbPerScavenge: 512,
      promotedKbPerScavenge: 101,
      highPromotionScavenges: 1,
      markCompacts: 1,
      markCompactPauseMicros: 25,
    });
  });
});
