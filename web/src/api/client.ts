// The API client: openapi-fetch over the types generated from the control plane's OpenAPI
// document (generated/openapi.ts), so each call's path, parameters, body and answer are checked
// against the API itself. Its middleware adds what every call needs: the CSRF header on unsafe
// methods, and one error type, `ApiError`, carrying the API's `{"error": {code, message,
// details}}` (a failed connection is one too, with status 0).

import createClient, { type Middleware } from "openapi-fetch";

import type { paths } from "./generated/openapi.ts";
import type { ErrorBody } from "./types.ts";

export const API_BASE = "/api/v1";
export const CSRF_COOKIE = "corral_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details: unknown = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Signed out, or the session expired: show the sign-in screen. */
  get isUnauthenticated(): boolean {
    return this.status === 401;
  }
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

async function errorFrom(response: Response): Promise<ApiError> {
  try {
    const data = (await response.json()) as { error?: ErrorBody };
    if (data.error && typeof data.error.message === "string") {
      return new ApiError(response.status, data.error.code, data.error.message, data.error.details);
    }
  } catch {
    // not JSON: a proxy's error page, say
  }
  return new ApiError(
    response.status,
    `http_${response.status}`,
    `${response.status} ${response.statusText || "error"}`,
  );
}

const apiMiddleware: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method)) {
      const csrf = readCookie(CSRF_COOKIE);
      if (csrf) request.headers.set(CSRF_HEADER, csrf);
    }
    return request;
  },
  async onResponse({ response }) {
    if (!response.ok) throw await errorFrom(response);
    return response;
  },
  onError({ request }) {
    if (request.signal.aborted) return; // the caller's own abort: thrown as it is
    return new ApiError(0, "network_error", "Corral did not answer; check the connection.");
  },
};

/** Every path is the whole one, `/api/v1/…`, as the OpenAPI document names it. */
export const api = createClient<paths>({
  // This page's own origin: a Request needs a whole URL outside a browser (component tests).
  baseUrl: window.location.origin,
  headers: { Accept: "application/json" },
  credentials: "same-origin",
  // Looked up at each call, not once: component tests replace `fetch`.
  fetch: (request) => globalThis.fetch(request),
});
api.use(apiMiddleware);

/**
 * The answer's body: `api`'s middleware has thrown an `ApiError` for anything but a success,
 * so the data is there (undefined for 204).
 */
export async function data<T>(call: Promise<{ data?: T }>): Promise<T> {
  return (await call).data as T;
}

/** `path` relative to `/api/v1`, with `query` appended (for WebSockets, which the document
 * does not describe). */
export function apiUrl(path: string, query?: Record<string, string | number>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) params.append(key, String(value));
  const search = params.toString();
  return `${API_BASE}${path}${search ? `?${search}` : ""}`;
}

/** Encode one path segment (an id or a name). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** The WebSocket URL of an API path, on this page's host (ws: or wss: to match the page). */
export function wsUrl(path: string, query?: Record<string, string | number>): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${apiUrl(path, query)}`;
}
