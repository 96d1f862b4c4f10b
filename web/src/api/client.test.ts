import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, CSRF_HEADER, api, data } from "./client.ts";

/** Answer every fetch with `response` (or throw `error`), recording the requests. */
function answer(response: () => Response, error?: Error): Request[] {
  const requests: Request[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
    requests.push(input as Request);
    if (error) throw error;
    return response();
  });
  return requests;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  document.cookie = "corral_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
});

describe("api", () => {
  it("sends the CSRF cookie's token on unsafe methods only", async () => {
    document.cookie = "corral_csrf=tok%3D1";
    const requests = answer(() => new Response(null, { status: 204 }));
    await data(api.POST("/api/v1/auth/logout"));
    await data(api.GET("/api/v1/me"));
    expect(requests.map((r) => [r.method, r.headers.get(CSRF_HEADER)])).toEqual([
      ["POST", "tok=1"],
      ["GET", null],
    ]);
    expect(new URL(requests[1]!.url).pathname).toBe("/api/v1/me");
  });

  it("throws the API's error, with its code, message and details", async () => {
    answer(() => json(409, { error: { code: "conflict", message: "name taken", details: [1] } }));
    const error = await data(api.GET("/api/v1/me")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: "conflict", message: "name taken" });
    expect((error as ApiError).details).toEqual([1]);
  });

  it("says 401 means signed out, and names a status with no error body", async () => {
    answer(() => json(401, { error: { code: "unauthenticated", message: "sign in" } }));
    expect(
      ((await data(api.GET("/api/v1/me")).catch((e) => e)) as ApiError).isUnauthenticated,
    ).toBe(true);
    answer(
      () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    );
    await expect(data(api.GET("/api/v1/me"))).rejects.toMatchObject({
      status: 502,
      code: "http_502",
      message: "502 Bad Gateway",
    });
  });

  it("turns a failed connection into an error with status 0, but not an abort", async () => {
    answer(() => json(200, {}), new TypeError("Failed to fetch"));
    await expect(data(api.GET("/api/v1/me"))).rejects.toMatchObject({
      status: 0,
      code: "network_error",
    });
    const abort = new AbortController();
    abort.abort();
    answer(() => json(200, {}), new DOMException("aborted", "AbortError"));
    const error = await data(api.GET("/api/v1/me", { signal: abort.signal })).catch((e) => e);
    expect(error).not.toBeInstanceOf(ApiError);
    expect((error as Error).name).toBe("AbortError");
  });
});
