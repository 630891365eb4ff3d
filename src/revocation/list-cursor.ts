import type { z } from "zod";
import { InvalidCursorError } from "./revocation-store.js";

/** Longest cursor accepted: a page's leftovers are a few keys, and it travels in a query string. */
export const MAX_CURSOR_LENGTH = 8192;

/**
 * A listing cursor: the store's position, as base64url JSON. Opaque to callers, but not secret
 * or signed: decoding checks it strictly against the store's own `schema`, so a made-up cursor
 * can only point to a position the store could have reached itself.
 */
export function encodeCursor(position: object): string {
  return Buffer.from(JSON.stringify(position), "utf8").toString("base64url");
}

/** The position in `cursor`, or InvalidCursorError. */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError("malformed cursor");
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError("malformed cursor");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidCursorError("not a cursor of this store");
  return parsed.data;
}
