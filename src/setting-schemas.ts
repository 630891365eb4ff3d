/** The shapes of setting config.ts reads from the environment: each a zod schema over the text, with its default. */
import { z } from "zod";
import { parseDurationSeconds } from "./lib/durations.js";
import { parseRateLimit } from "./rate-limit/rate-limit-setting.js";
import type { RateLimit } from "./rate-limit/rate-limiter.js";

/** A duration like 90s, 15m or 1h, as seconds, at most `max`. */
export const duration = (name: string, fallback: string, max: number) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const seconds = parseDurationSeconds(text);
      if (seconds === undefined || seconds <= 0 || seconds > max) {
        ctx.addIssue({ code: "custom", message: `${name} must be a duration like 90s, 15m or 1h, at most ${max}s` });
        return z.NEVER;
      }
      return seconds;
    });

/** true/false/1/0. */
export const flag = (fallback: "true" | "false") => z.enum(["true", "false", "1", "0"]).default(fallback).transform((v) => v === "true" || v === "1");

/** An integer within bounds. */
export const integer = (min: number, max: number, fallback: string) =>
  z.string().default(fallback).transform(Number).pipe(z.number().int().min(min).max(max));

/** "off" or "<count>/<duration>[,burst=<n>]" (rate-limit-setting.ts). */
export const rateLimit = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx): RateLimit | undefined => {
      const parsed = parseRateLimit(text);
      if (parsed !== undefined && "error" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.error });
        return z.NEVER;
      }
      return parsed;
    });

/** Most worker processes BROKER_WORKERS takes: far beyond the cores of any one machine we size for. */
export const MAX_WORKERS = 64;

/** BROKER_WORKERS: an integer 1–64, or auto (one per CPU this process may use, at most 64). */
export const workerCount = (cpus: number) =>
  z
    .string()
    .default("1")
    .refine((text) => text === "auto" || (/^\d{1,2}$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_WORKERS), `must be auto or an integer 1–${MAX_WORKERS}`)
    .transform((text) => (text === "auto" ? Math.min(cpus, MAX_WORKERS) : Number(text)));
