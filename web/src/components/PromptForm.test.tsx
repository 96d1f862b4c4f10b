import { cleanup, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { mockApi, renderPage, writes } from "../testing/api.tsx";
import { PromptForm } from "./PromptForm.tsx";

/** A prompt box whose session starts the turn of prompt `p9` at the click of a button. */
function TurnHarness() {
  const [started, setStarted] = useState<ReadonlySet<string>>(new Set());
  return (
    <>
      <button type="button" onClick={() => setStarted(new Set(["p9"]))}>
        The queued turn starts
      </button>
      <PromptForm sessionId="ses_1" canCancel startedPrompts={started} />
    </>
  );
}

afterEach(cleanup);
beforeEach(() => localStorage.clear());

describe("PromptForm", () => {
  it("sends the prompt and recalls earlier ones with the arrow keys", async () => {
    let next = 0;
    const calls = mockApi({
      "POST /sessions/ses_1/prompts": () => ({
        status: 202,
        body: { prompt_id: `p${++next}`, queued: 0 },
      }),
    });
    const user = userEvent.setup();
    renderPage(<PromptForm sessionId="ses_1" canCancel={false} startedPrompts={new Set()} />);
    const box = screen.getByLabelText("Prompt") as HTMLTextAreaElement;

    await user.type(box, "first");
    await user.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(box.value).toBe(""));
    await user.type(box, "second{Control>}{Enter}{/Control}");
    await waitFor(() => expect(box.value).toBe(""));
    expect(writes(calls).map((c) => c.body)).toEqual([{ text: "first" }, { text: "second" }]);

    await user.type(box, "draft");
    await user.keyboard("{ArrowUp}");
    expect(box.value).toBe("second");
    await user.keyboard("{ArrowUp}");
    expect(box.value).toBe("first");
    await user.keyboard("{ArrowDown}{ArrowDown}");
    expect(box.value).toBe("draft");
  });

  it("lists prompts sent during a turn until their own turn starts", async () => {
    mockApi({
      "POST /sessions/ses_1/prompts": { status: 202, body: { prompt_id: "p9", queued: 1 } },
    });
    const user = userEvent.setup();
    renderPage(<TurnHarness />);
    await user.type(screen.getByLabelText("Prompt"), "run the tests next");
    await user.click(screen.getByRole("button", { name: "Send" }));
    const queued = await screen.findByRole("region", { name: "Queued prompts" });
    expect(queued.textContent).toContain("run the tests next");

    await user.click(screen.getByRole("button", { name: "The queued turn starts" }));
    expect(screen.queryByRole("region", { name: "Queued prompts" })).toBeNull();
  });
});
