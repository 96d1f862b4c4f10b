import { cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { RowStateProvider } from "./chat/rowState.ts";
import { DiffView } from "./DiffView.tsx";

afterEach(cleanup);

const OLD = "def f():\n    return 1\n\nprint(f())\n";
const NEW = "def f():\n    return 2\n\nprint(f())\nprint('done')\n";

function cells(row: HTMLElement): string[] {
  return within(row)
    .getAllByRole("cell")
    .map((c) => c.textContent ?? "");
}

describe("DiffView", () => {
  it("shows a unified diff with line numbers and highlighting by extension", () => {
    render(<DiffView path="/w/app.py" oldText={OLD} newText={NEW} />);
    const table = screen.getByRole("table", { name: "Diff of /w/app.py (unified)" });
    const rows = within(table).getAllByRole("row");
    expect(rows.map(cells)).toEqual([
      ["@@ -1,4 +1,5 @@"],
      ["1", "1", " def f():"],
      ["2", "", "-    return 1"],
      ["", "2", "+    return 2"],
      ["3", "3", " "],
      ["4", "4", " print(f())"],
      ["", "5", "+print('done')"],
    ]);
    expect(rows[1]!.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(screen.getByText("+2")).toBeTruthy();
    expect(screen.getByText("−1")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Unified" }).getAttribute("aria-pressed")).toBe(
      "true",
    );
  });

  it("switches to a split view and keeps the choice when mounted again", async () => {
    const store = new Map<string, unknown>();
    const diff = (
      <RowStateProvider value={store}>
        <DiffView path="/w/app.py" oldText={OLD} newText={NEW} stateKey="e1:0" />
      </RowStateProvider>
    );
    const view = render(diff);
    await userEvent.click(screen.getByRole("button", { name: "Split" }));
    const table = screen.getByRole("table", { name: "Diff of /w/app.py (split)" });
    expect(within(table).getAllByRole("row").map(cells)).toEqual([
      ["@@ -1,4 +1,5 @@"],
      ["1", " def f():", "1", " def f():"],
      ["2", "-    return 1", "2", "+    return 2"],
      ["3", " ", "3", " "],
      ["4", " print(f())", "4", " print(f())"],
      ["", "", "5", "+print('done')"],
    ]);
    view.unmount();
    render(diff);
    expect(screen.getByRole("button", { name: "Split" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByRole("table", { name: /split/ })).toBeTruthy();
  });

  it("labels a new file and a deleted one", () => {
    render(
      <>
        <DiffView path="/w/new.ts" oldText={null} newText={"export const a = 1;\n"} />
        <DiffView path="/w/old.ts" oldText={"gone\n"} newText="" />
      </>,
    );
    const [added, deleted] = screen.getAllByRole("figure");
    expect(within(added!).getByText("new file")).toBeTruthy();
    expect(within(added!).getAllByRole("row").map(cells)).toEqual([
      ["@@ -0,0 +1 @@"],
      ["", "1", "+export const a = 1;"],
    ]);
    expect(within(deleted!).getByText("deleted file")).toBeTruthy();
    expect(within(deleted!).getAllByRole("row").map(cells)).toEqual([
      ["@@ -1 +0,0 @@"],
      ["1", "", "-gone"],
    ]);
  });

  it("says so when nothing changed", () => {
    render(<DiffView path="/w/same.txt" oldText={"x\n"} newText={"x\n"} />);
    expect(screen.getByText("No changes.")).toBeTruthy();
  });
});
