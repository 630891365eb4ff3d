import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/audit/audit-event.js";
import { requestPairedAuditSink, type AccessFacts, type BatchedOutput } from "../../src/audit/request-audits.js";

const event = (requestId: string, jti = "j1"): AuditEvent => ({ event: "token_revocation", requestId, actor: "w", jti, exp: 1, tokenSha256: "00", outcome: "revoked", clientAddress: "10.0.0.1" });
const access = (requestId: string, status = 200): AccessFacts => ({ requestId, method: "POST", path: "/revoke", status, durationMs: 1.5, clientAddress: "10.0.0.1" });

function recordingSink() {
  const written: { event: AuditEvent; access: AccessFacts | undefined }[] = [];
  const sink = requestPairedAuditSink((recorded, facts) => written.push({ event: recorded, access: facts }));
  return { sink, written };
}

describe("audit records paired with their request's access facts", () => {
  it("a record made during a request waits for its answer, then goes with its access facts", () => {
    const { sink, written } = recordingSink();
    const open = sink.open("r1");
    sink.record(event("r1"));
    expect(written).toEqual([]);
    expect(sink.close(open, access("r1"))).toBe(true);
    expect(written).toEqual([{ event: event("r1"), access: access("r1") }]);
  });

  it("a request that made no record says so: the caller writes its access line", () => {
    const { sink, written } = recordingSink();
    expect(sink.close(sink.open("r1"), access("r1"))).toBe(false);
    expect(written).toEqual([]);
  });

  it("every record of a request is written, each with the access facts", () => {
    const { sink, written } = recordingSink();
    const open = sink.open("r1");
    sink.record(event("r1", "a"));
    sink.record(event("r1", "b"));
    sink.close(open, access("r1", 401));
    expect(written.map((line) => [line.event, line.access?.status])).toEqual([
      [event("r1", "a"), 401],
      [event("r1", "b"), 401],
    ]);
  });

  it("a record of no request in flight, or made after the answer, is written at once, alone", () => {
    const { sink, written } = recordingSink();
    sink.record(event("elsewhere"));
    const open = sink.open("r1");
    sink.close(open, access("r1"));
    sink.record(event("r1"));
    expect(written).toEqual([
      { event: event("elsewhere"), access: undefined },
      { event: event("r1"), access: undefined },
    ]);
  });

  it("two requests in flight with the same id: a record is not attributed by guess, it is written at once", () => {
    const { sink, written } = recordingSink();
    const first = sink.open("same");
    sink.record(event("same", "before"));
    const second = sink.open("same");
    sink.record(event("same", "during"));
    expect(written).toEqual([{ event: event("same", "during"), access: undefined }]);
    // The record made before the second request began can only be the first's.
    expect(sink.close(second, access("same", 500))).toBe(false);
    expect(sink.close(first, access("same", 200))).toBe(true);
    expect(written.at(-1)).toEqual({ event: event("same", "before"), access: access("same", 200) });
    // Both answered: the id is free again.
    const third = sink.open("same");
    sink.record(event("same", "later"));
    expect(sink.close(third, access("same"))).toBe(true);
  });

  it("a request that ends without an answer still writes its records, alone", () => {
    const { sink, written } = recordingSink();
    const open = sink.open("r1");
    sink.record(event("r1"));
    sink.close(open, undefined);
    expect(written).toEqual([{ event: event("r1"), access: undefined }]);
  });

  it("waits for the output's end-of-turn write while other requests are in flight, and has it written at once by the last one", () => {
    const asked: string[] = [];
    const turn = Promise.resolve();
    const output: BatchedOutput = {
      written: () => (asked.push("end of turn"), turn),
      writtenNow: () => (asked.push("now"), undefined),
    };
    const sink = requestPairedAuditSink(() => undefined, output);
    const first = sink.open("a");
    const second = sink.open("b");
    sink.close(first, access("a"));
    expect(sink.written()).toBe(turn);
    sink.close(second, access("b"));
    expect(sink.written()).toBeUndefined();
    // One client at a time: nothing could share the write.
    sink.close(sink.open("c"), access("c"));
    expect(sink.written()).toBeUndefined();
    expect(asked).toEqual(["end of turn", "now", "now"]);
  });

  it("without a batched output, what it wrote is written: nothing to wait for", () => {
    const { sink } = recordingSink();
    sink.close(sink.open("r1"), access("r1"));
    expect(sink.written()).toBeUndefined();
  });
});
