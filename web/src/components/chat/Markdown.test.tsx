import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { Markdown } from "./Markdown.tsx";

afterEach(cleanup);

describe("Markdown", () => {
  it("renders GitHub-flavoured markdown with highlighted code blocks", () => {
    const text = [
      "# Title",
      "",
      "| a | b |",
      "|---|---|",
      "| 1 | 2 |",
      "",
      "- [x] done",
      "",
      "```ts",
      "const x: number = 1;",
      "```",
      "",
      "```",
      "no language <here>",
      "```",
    ].join("\n");
    const { container } = render(<Markdown text={text} />);
    expect(screen.getByRole("heading", { name: "Title" })).toBeTruthy();
    expect(screen.getByRole("table")).toBeTruthy();
    expect(screen.getByRole("checkbox")).toBeTruthy();
    const blocks = container.querySelectorAll(".code-block");
    expect(blocks).toHaveLength(2);
    expect(blocks[0]!.querySelector(".hljs-keyword")?.textContent).toBe("const");
    expect(blocks[0]!.querySelector(".code-language")?.textContent).toBe("ts");
    expect(blocks[1]!.querySelector("code")?.textContent).toBe("no language <here>");
  });

  it("opens links in a new tab without the opener, and never renders raw HTML", () => {
    const text = [
      "[site](https://example.com) [bad](javascript:alert(1)) ![pic](https://example.com/p.png)",
      "",
      '<img src=x onerror="alert(1)"><script>alert(2)</script>',
    ].join("\n");
    const { container } = render(<Markdown text={text} />);
    const link = screen.getByRole("link", { name: "site" });
    expect(link.getAttribute("target")).toBe("_blank");
    expect(link.getAttribute("rel")).toBe("noreferrer noopener");
    expect(screen.queryByRole("link", { name: "bad" })).toBeNull();
    expect(container.textContent).toContain("bad");
    expect(screen.getByRole("link", { name: "pic" }).getAttribute("href")).toBe(
      "https://example.com/p.png",
    );
    expect(container.querySelector("img, script")).toBeNull();
    expect(container.textContent).toContain("<script>alert(2)</script>");
  });
});
