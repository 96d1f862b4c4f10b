// Test helpers for component tests: a fake `/api/v1` behind `fetch`, a render with
// react-query and a router, and a field's error as the page shows it. Only tests import
// this file.

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { vi } from "vitest";

export interface ApiCall {
  method: string;
  /** Without `/api/v1`. */
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface FakeResponse {
  status?: number;
  body?: unknown;
}

type Answer = FakeResponse | Promise<FakeResponse>;
export type ApiRoutes = Record<string, Answer | ((call: ApiCall) => Answer)>;

export const apiError = (
  status: number,
  code: string,
  message: string,
  details: unknown = null,
) => ({ status, body: { error: { code, message, details } } });

/**
 * Answer `fetch` from `routes`, keyed `"METHOD /path"` (without `/api/v1` and the query); the
 * value is a response or a function of the call. Anything else answers 404. Returns every call.
 */
export function mockApi(routes: ApiRoutes): ApiCall[] {
  const calls: ApiCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    // The API client (openapi-fetch) passes a Request; anything else, a URL and its init.
    const request = input instanceof Request ? input : null;
    const url = new URL(request?.url ?? String(input), "http://corral.test");
    const method = (request?.method ?? init?.method ?? "GET").toUpperCase();
    const text = request ? await request.text() : init?.body;
    const call: ApiCall = {
      method,
      path: url.pathname.replace(/^\/api\/v1/, ""),
      query: url.searchParams,
      body: typeof text === "string" && text !== "" ? JSON.parse(text) : undefined,
    };
    calls.push(call);
    const route = routes[`${method} ${call.path}`];
    const answer = await (typeof route === "function" ? route(call) : route);
    const { status = 200, body = null } =
      answer ?? apiError(404, "not_found", `no route ${method} ${call.path}`);
    return new Response(status === 204 ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  });
  return calls;
}

/** The calls that changed something (not GET). */
export const writes = (calls: readonly ApiCall[]) => calls.filter((c) => c.method !== "GET");

export const page = <T,>(items: T[]) => ({ body: { items, next_cursor: null } });

function Location() {
  return <p data-testid="location">{useLocation().pathname}</p>;
}

/** Render `ui` at `path` (a route pattern) opened as `url`; other URLs show the location. */
export function renderPage(ui: ReactElement, { path = "/", url = "/" } = {}) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[url]}>
        <Routes>
          <Route path={path} element={ui} />
          <Route path="*" element={<Location />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

/** The message an input's `aria-describedby` points at first (its error). */
export function describedError(input: HTMLElement): string {
  const first = input.getAttribute("aria-describedby")?.split(" ")[0];
  return (first && document.getElementById(first)?.textContent) || "";
}

export const NOW = "2025-01-01T00:00:00Z";
