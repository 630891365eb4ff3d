/** Reused: a non-streaming decoder keeps no state between calls. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes one base64url segment to a JSON object; undefined on any failure. */
export function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const text = STRICT_UTF8.decode(Buffer.from(segment, "base64url"));
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
