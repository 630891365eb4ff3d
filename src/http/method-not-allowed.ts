import type { Hono } from "hono";
import type { AppEnv } from "./app-env.js";

const METHODS = ["GET", "PUT", "DELETE", "PATCH", "POST"];

/** 405 with `Allow` for the methods a path does not serve (RFC 9110 §15.5.6). */
export function methodNotAllowed(app: Hono<AppEnv>, path: string, allow: string): void {
  app.on(
    METHODS.filter((method) => method !== allow),
    path,
    (c) => {
      c.header("Allow", allow);
      return c.json({ error: "invalid_request", error_description: `use ${allow}` }, 405);
    },
  );
}
