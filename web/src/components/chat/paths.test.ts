import { describe, expect, it } from "vitest";

import { relativePath } from "./paths.ts";

describe("relativePath", () => {
  it("drops the working directory, and only a whole leading directory", () => {
    const cwd = "/srv/corral/node/workspaces/wsp_1/repo";
    expect(relativePath(`${cwd}/src/app.py`, cwd)).toBe("src/app.py");
    expect(relativePath(`${cwd}/src/app.py`, `${cwd}/`)).toBe("src/app.py");
    expect(relativePath(cwd, cwd)).toBe(".");
    expect(relativePath(`${cwd}-other/app.py`, cwd)).toBe(`${cwd}-other/app.py`);
    expect(relativePath("/etc/hosts", cwd)).toBe("/etc/hosts");
    expect(relativePath("src/app.py", null)).toBe("src/app.py");
  });
});
