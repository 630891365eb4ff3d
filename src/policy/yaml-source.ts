import { parseDocument } from "yaml";
import type { z } from "zod";

/** Largest policy or fixture file read; these are hand-written, so anything bigger is a mistake. */
const MAX_SOURCE_BYTES = 256 * 1024;

/** A problem at one field of a source file; `path` is dotted (`grant.max_lifetime`) or empty. */
export interface SourceIssue {
  readonly path: string;
  readonly message: string;
}

export type YamlParse = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly issues: readonly SourceIssue[] };

/**
 * Parses one YAML document. Duplicate keys, several documents and syntax errors are all refused
 * (the `yaml` library reports them as document errors); alias expansion stays under its default cap.
 */
export function parseYaml(text: string): YamlParse {
  if (Buffer.byteLength(text, "utf8") > MAX_SOURCE_BYTES) {
    return { ok: false, issues: [{ path: "", message: `file larger than ${MAX_SOURCE_BYTES} bytes` }] };
  }
  const document = parseDocument(text, { prettyErrors: false });
  if (document.errors.length > 0) {
    return { ok: false, issues: document.errors.map((error) => ({ path: "", message: `YAML: ${firstLine(error.message)}` })) };
  }
  try {
    return { ok: true, value: document.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (error) {
    return { ok: false, issues: [{ path: "", message: `YAML: ${error instanceof Error ? firstLine(error.message) : String(error)}` }] };
  }
}

/** Turns zod issues into field-path issues, unwrapping record-key issues to their own message. */
export function zodIssues(error: z.ZodError): SourceIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "invalid_key" && issue.issues.length > 0) {
      return { path, message: `key ${issue.issues.map((inner) => inner.message).join("; ")}` };
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const inner = issue.errors.flat().map((e) => e.message);
      return { path, message: [...new Set(inner)].join("; ") || issue.message };
    }
    return { path, message: issue.message };
  });
}

/** Formats one issue as `file [policy-id] path: message`. */
export function formatIssue(file: string, policyId: string | undefined, issue: SourceIssue): string {
  const id = policyId === undefined ? "" : ` [${policyId}]`;
  const path = issue.path === "" ? "" : ` ${issue.path}`;
  return `${file}${id}${path}: ${issue.message}`;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
