import type { Context } from "hono";
import type { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import type { AppEnv } from "./app-env.js";
import { readBody } from "./read-body.js";

const JSON_MEDIA_TYPE = "application/json";

/**
 * Reads an `application/json` body of at most `maxBytes` and validates it with `schema`.
 * Every problem is reported at once, by field; caller-supplied field names are not echoed.
 */
export async function readJson<T>(c: Context<AppEnv>, schema: z.ZodType<T>, maxBytes: number): Promise<T> {
  const contentType = c.req.header("content-type");
  if (!contentType || contentType.split(";")[0]?.trim().toLowerCase() !== JSON_MEDIA_TYPE) {
    throw new BrokerError("invalid_request", `the request body must be ${JSON_MEDIA_TYPE}`, { reason: "unsupported_media_type" });
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await readBody(c, maxBytes)));
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    throw new BrokerError("invalid_request", "the request body is not valid JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join(".") || "(body)"}: ${issue.code === "unrecognized_keys" ? "unknown field" : issue.message}`,
    );
    throw new BrokerError("invalid_request", `invalid body: ${problems.join("; ")}`);
  }
  return parsed.data;
}
