/**
 * Outbound HTTP, injected so tests control it and so the only places fetched
 * are the ones the composition root allows (configured issuer URLs).
 */
export type HttpFetch = (url: string, init: { signal: AbortSignal; headers?: Record<string, string> }) => Promise<Response>;

export const globalHttpFetch: HttpFetch = (url, init) => fetch(url, { ...init, redirect: "error" });
