import { isAlias, isScalar, parseDocument, Scalar } from "yaml";
import type { Document } from "yaml";
import type { z } from "zod";

/** Largest policy or fixture file read; these are hand-written, so anything bigger is a mistake. */
const MAX_SOURCE_BYTES = 256 * 1024;

/** Where in a source file a problem is: 1-based line and column, and that line's text. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
  readonly excerpt: string;
}

/** A problem at one field of a source file; `path` is dotted (`grant.max_lifetime`) or empty. */
export interface SourceIssue extends Partial<SourcePosition> {
  readonly path: string;
  readonly message: string;
}

/** Finds the character at `offset` of the string value at `keys` in the file, when that value is written there. */
export type Locate = (keys: readonly string[], offset: number) => SourcePosition | undefined;

export type YamlParse =
  | { readonly ok: true; readonly value: unknown; readonly locate: Locate }
  | { readonly ok: false; readonly issues: readonly SourceIssue[] };

/**
 * Parses one YAML document. Duplicate keys, several documents and syntax errors are all refused
 * (the `yaml` library reports them as document errors); alias expansion stays under its default cap.
 * Anchors, aliases and `<<` merge keys work: authors reach for them to share an identity or a grant.
 */
export function parseYaml(text: string): YamlParse {
  if (Buffer.byteLength(text, "utf8") > MAX_SOURCE_BYTES) {
    return { ok: false, issues: [{ path: "", message: `file larger than ${MAX_SOURCE_BYTES} bytes` }] };
  }
  const document = parseDocument(text, { prettyErrors: false, merge: true });
  if (document.errors.length > 0) {
    return { ok: false, issues: document.errors.map((error) => ({ path: "", message: `YAML: ${firstLine(error.message)}` })) };
  }
  try {
    const value = document.toJS({ maxAliasCount: 100 }) as unknown;
    return { ok: true, value, locate: (keys, offset) => locateInValue(text, document, keys, offset) };
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

/**
 * Formats one issue as `file [policy-id] path: message`; an issue with a position reads
 * `file:line:column [policy-id] path: message` followed by the source line and a caret under the column.
 */
export function formatIssue(file: string, policyId: string | undefined, issue: SourceIssue): string {
  const id = policyId === undefined ? "" : ` [${policyId}]`;
  const path = issue.path === "" ? "" : ` ${issue.path}`;
  const { line, column, excerpt } = issue;
  if (line === undefined || column === undefined) return `${file}${id}${path}: ${issue.message}`;
  const head = `${file}:${line}:${column}${id}${path}: ${issue.message}`;
  if (excerpt === undefined) return head;
  // Tabs stay tabs under the caret, so it lines up whatever the terminal's tab width.
  const pad = excerpt.slice(0, column - 1).replace(/[^\t]/g, " ");
  return `${head}\n    ${excerpt}\n    ${pad}^`;
}

/**
 * The source position of character `offset` of the string at `keys`. The value is a scalar as
 * parsed (folded, unescaped), so its characters are matched in order against the source text,
 * skipping the whitespace that folding changes and the escapes quoting adds. Undefined when the
 * value is not written at `keys` (it came from a merge key) or cannot be followed.
 */
function locateInValue(text: string, document: Document, keys: readonly string[], offset: number): SourcePosition | undefined {
  let node: unknown = document.getIn(keys, true);
  if (isAlias(node)) node = node.resolve(document);
  if (!isScalar(node) || typeof node.value !== "string" || node.range === undefined || node.range === null) return undefined;
  const value = node.value;
  const [start, end] = node.range;
  let from = start;
  if (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) from = start + 1;
  // A block scalar's content starts on the line after its `|` or `>` header.
  if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) from = text.indexOf("\n", start) + 1;
  let target = offset;
  while (target < value.length && /\s/.test(value.charAt(target))) target++;
  let cursor = from;
  for (let index = 0; index <= target && index < value.length; index++) {
    const char = value.charAt(index);
    if (/\s/.test(char)) continue;
    const found = text.indexOf(char, cursor);
    if (found === -1 || found >= end) return undefined;
    if (index === target) return positionOf(text, found);
    cursor = found + 1;
  }
  // Past the last character (an expression that ends too early): just after it.
  return positionOf(text, cursor);
}

function positionOf(text: string, index: number): SourcePosition {
  const lineStart = text.lastIndexOf("\n", index - 1) + 1;
  const lineEnd = text.indexOf("\n", index);
  const line = text.slice(0, lineStart).split("\n").length;
  return { line, column: index - lineStart + 1, excerpt: text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).replace(/\r$/, "") };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
