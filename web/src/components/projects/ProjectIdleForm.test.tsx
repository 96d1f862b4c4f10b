import { cleanup, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { apiError, mockApi, renderPage, writes } from "../../testing/api.tsx";
import { demoProject } from "../../testing/fixtures.ts";
import { ProjectIdleForm } from "./ProjectIdleForm.tsx";

afterEach(cleanup);

const open = (minutes: number | null) =>
  renderPage(
    <ProjectIdleForm
      project={{ ...demoProject, idle_timeout_minutes: minutes }}
      projectRef="demo"
    />,
  );

describe("ProjectIdleForm", () => {
  it("sets a number of minutes, then never, then the default again", async () => {
    const calls = mockApi({
      "PATCH /projects/demo": (call) => ({
        body: { ...demoProject, ...(call.body as object) },
      }),
    });
    const user = userEvent.setup();
    open(null);
    const when = screen.getByLabelText("Stop its workspaces") as HTMLSelectElement;
    expect(when.value).toBe("default");
    expect((screen.getByRole("button", { name: "Save" }) as HTMLButtonElement).disabled).toBe(true);

    await user.selectOptions(when, "after");
    const minutes = screen.getByLabelText("Minutes idle");
    await user.clear(minutes);
    await user.type(minutes, "45");
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(1));

    await user.selectOptions(when, "never");
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(2));
    expect(writes(calls).map((c) => c.body)).toEqual([
      { idle_timeout_minutes: 45 },
      { idle_timeout_minutes: 0 },
    ]);
  });

  it("keeps to whole minutes up to 30 days, and shows the API's refusal by the field", async () => {
    const calls = mockApi({
      "PATCH /projects/demo": apiError(422, "invalid_input", "invalid", [
        {
          field: "body.idle_timeout_minutes",
          message: "Input should be greater than or equal to 0",
          type: "greater_than_equal",
        },
      ]),
    });
    const user = userEvent.setup();
    open(45);
    const minutes = screen.getByLabelText("Minutes idle") as HTMLInputElement;
    await user.clear(minutes);
    await user.type(minutes, "50000");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(minutes.validity.rangeOverflow).toBe(true);
    expect(writes(calls)).toHaveLength(0);

    await user.clear(minutes);
    await user.type(minutes, "60");
    await user.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Input should be greater than or equal to 0")).toBeTruthy();
  });
});
