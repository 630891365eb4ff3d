/**
 * parseForm: strict UTF-8 in percent-encoding and refused repeats. The UTF-8 check decodes only the
 * runs of escaped high bytes (form.ts); these tests hold it to the rule it replaces, "every run of
 * escapes decodes as UTF-8", on hand-picked shapes and on generated bodies.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import { parseForm } from "../../src/http/form.js";

const REPEATABLE = new Set(["audience", "resource"]);
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The rule as first written: every maximal run of escapes, ASCII ones included, is decoded. */
function everyRunIsUtf8(body: string): boolean {
  for (const run of body.match(/(?:%[0-9A-Fa-f]{2})+/g) ?? []) {
    try {
      STRICT_UTF8.decode(Buffer.from(run.replaceAll("%", ""), "hex"));
    } catch {
      return false;
    }
  }
  return true;
}

function refusal(body: string): string | undefined {
  try {
    parseForm(body, REPEATABLE);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    return (error as BrokerError).description;
  }
}

const NOT_UTF8 = "the request body is not UTF-8 form encoding";

describe("parseForm: percent-encoded UTF-8", () => {
  it.each([
    ["a lone continuation byte", "x=%80"],
    ["a lone continuation byte after ASCII escapes", "x=%3A%2F%80"],
    ["a lone continuation byte between ASCII escapes", "x=%3A%BF%3A"],
    ["a lead byte alone", "x=%C3"],
    ["a lead byte cut off by an ASCII escape", "x=%C3%3A%A9"],
    ["a lead byte cut off by a literal character", "x=%C3a%A9"],
    ["a three-byte character missing its last byte", "x=%E2%82"],
    ["a split three-byte character", "x=%E2%82&y=%AC"],
    ["a three-byte character split by '='", "%E2%82=%AC"],
    ["a four-byte character missing a byte", "x=%F0%9F%98"],
    ["an overlong slash", "x=%C0%AF"],
    ["an overlong NUL", "x=%C0%80"],
    ["a three-byte overlong", "x=%E0%80%AF"],
    ["a four-byte overlong", "x=%F0%80%80%AF"],
    ["a high surrogate", "x=%ED%A0%80"],
    ["a low surrogate", "x=%ED%BF%BF"],
    ["a code point past U+10FFFF", "x=%F4%90%80%80"],
    ["0xFF", "x=%FF"],
    ["0xFE 0xFF", "x=%FE%FF"],
    ["0xF8 (a five-byte lead)", "x=%F8%88%80%80%80"],
    ["a bad run in a name", "%FF=1"],
    ["a bad run after a good one", "x=%C3%A9%C3"],
    ["lower-case hex", "x=%c0%af"],
    ["mixed-case hex", "x=%eD%a0%80"],
    ["a bad run in the second of two parameters", "a=%3A&b=%E2%82%AC%E2"],
  ])("refuses %s (%s)", (_what, body) => {
    expect(everyRunIsUtf8(body)).toBe(false);
    expect(refusal(body)).toBe(NOT_UTF8);
  });

  it.each([
    ["ASCII escapes", "x=urn%3Aietf%3Aparams&y=https%3A%2F%2Fa.example.com", { x: "urn:ietf:params", y: "https://a.example.com" }],
    ["escaped NUL and DEL", "x=%00%7F", { x: "\u0000\u007f" }],
    ["a two-byte character", "x=%C3%A9", { x: "é" }],
    ["a three-byte character", "x=%E2%82%AC", { x: "€" }],
    ["a four-byte character", "x=%F0%9F%98%80", { x: "😀" }],
    ["characters among ASCII escapes", "x=%3A%C3%A9%2F%E2%82%AC%3A", { x: ":é/€:" }],
    ["a byte-order mark, kept", "x=%EF%BB%BFa", { x: "\ufeffa" }],
    ["the last code point", "x=%F4%8F%BF%BF", { x: "\u{10ffff}" }],
    ["lower-case hex", "x=%c3%a9", { x: "é" }],
    ["escapes that are not escapes, kept as they are", "x=%&y=%zz&z=%4&w=%%41", { x: "%", y: "%zz", z: "%4", w: "%A" }],
    ["'+' as a space", "x=a+b%2Bc", { x: "a b+c" }],
  ])("reads %s", (_what, body, expected: Record<string, string>) => {
    expect(everyRunIsUtf8(body)).toBe(true);
    const form = parseForm(body, REPEATABLE);
    for (const [name, value] of Object.entries(expected)) expect(form.single(name)).toBe(value);
  });

  it("decides as the every-run rule does on generated bodies of escapes and text", () => {
    const escape = fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((byte) => `%${byte.toString(16).padStart(2, "0")}`),
      fc.integer({ min: 0, max: 255 }).map((byte) => `%${byte.toString(16).padStart(2, "0").toUpperCase()}`),
      fc.constantFrom("%C0%AF", "%ED%A0%80", "%E2%82%AC", "%F0%9F%98%80", "%C3%A9", "%3A", "%2F"),
    );
    const piece = fc.oneof(escape, escape, fc.constantFrom("a", "=", "&", "+", "%", "%4", "%zz", "é"));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 24 }), (pieces) => {
        const body = pieces.join("");
        const refused = refusal(body);
        if (everyRunIsUtf8(body)) expect(refused === undefined || refused !== NOT_UTF8).toBe(true);
        else expect(refused).toBe(NOT_UTF8);
      }),
      { seed: 20_261_205, numRuns: 5_000 },
    );
  });
});

describe("parseForm: repeats", () => {
  it("refuses a repeated single-valued parameter, keeps repeats of the repeatable ones", () => {
    expect(refusal("scope=a&scope=b")).toBe("parameter scope must not be repeated");
    expect(refusal("scope=a&scope=%3A")).toBe("parameter scope must not be repeated");
    const form = parseForm("audience=a&audience=b&scope=c&scope=", REPEATABLE);
    expect(form.all("audience")).toEqual(["a", "b"]);
    expect(form.single("scope")).toBe("c");
    expect(form.all("resource")).toEqual([]);
  });
});
