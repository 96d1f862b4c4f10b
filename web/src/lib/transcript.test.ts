import { describe, expect, it } from "vitest";

import { ALLOW_REJECT, eventMaker, fold, longChat } from "../components/chat/fixtures.ts";
import { applyEvents, emptyTranscript, shellJoin, type ItemOf } from "./transcript.ts";

describe("applyEvents", () => {
  it("joins chunks into messages and starts a new one when the kind changes", () => {
    const e = eventMaker();
    const t = fold([
      e.text("thought", "Let me "),
      e.text("thought", "think."),
      e.text("agent", "Hello, "),
      e.text("agent", "world."),
      e.update({ sessionUpdate: "agent_message_chunk", content: { type: "image" } }),
    ]);
    expect(t.items.map((i) => i.type)).toEqual(["thought", "agent"]);
    expect((t.items[1] as ItemOf<"agent">).text).toBe("Hello, world.[image]");
  });

  it("starts a new message when the message id changes", () => {
    const e = eventMaker();
    const chunk = (text: string, messageId: string) =>
      e.update({
        sessionUpdate: "agent_message_chunk",
        messageId,
        content: { type: "text", text },
      });
    const t = fold([chunk("a", "m1"), chunk("b", "m1"), chunk("c", "m2")]);
    expect(t.items.map((i) => (i as ItemOf<"agent">).text)).toEqual(["ab", "c"]);
  });

  it("updates a tool call in place, keeping the identity of everything else", () => {
    const e = eventMaker();
    const before = fold([
      e("prompt", { prompt_id: "p", text: "Edit it", resources: [] }),
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: "t1",
        title: "Edit main.py",
        kind: "edit",
        status: "pending",
        locations: [{ path: "/w/main.py", line: 3 }],
      }),
      e.text("agent", "Working on it."),
    ]);
    const after = applyEvents(before, [
      e.update({
        sessionUpdate: "tool_call_update",
        toolCallId: "t1",
        status: "completed",
        content: [{ type: "diff", path: "/w/main.py", oldText: "a\n", newText: "b\n" }],
      }),
    ]);
    expect(after.items).toHaveLength(3);
    expect(after.items[0]).toBe(before.items[0]);
    expect(after.items[2]).toBe(before.items[2]);
    const tool = after.items[1] as ItemOf<"tool">;
    expect(tool).toMatchObject({ title: "Edit main.py", kind: "edit", status: "completed" });
    expect(tool.locations).toEqual([{ path: "/w/main.py", line: 3 }]);
    expect(tool.content).toHaveLength(1);
    // The state it started from is left as it was.
    expect((before.items[1] as ItemOf<"tool">).status).toBe("pending");
  });

  it("makes a card of a tool call first seen in a permission request (Gemini)", () => {
    const e = eventMaker();
    const t = fold([
      e("prompt", { prompt_id: "p", text: "Write it", resources: [] }),
      e("permission_request", {
        request_id: "prm1",
        tool_call: {
          toolCallId: "g1",
          title: "WriteFile notes.txt",
          kind: "edit",
          content: [{ type: "diff", path: "/w/notes.txt", oldText: null, newText: "hi\n" }],
        },
        options: ALLOW_REJECT,
      }),
      e.update({ sessionUpdate: "tool_call_update", toolCallId: "g1", status: "in_progress" }),
      e("permission_decision", {
        request_id: "prm1",
        outcome: "selected",
        option_id: "allow",
        by: "usr1",
        policy: null,
      }),
      e.update({ sessionUpdate: "tool_call_update", toolCallId: "g1", status: "completed" }),
    ]);
    expect(t.items.map((i) => i.type)).toEqual(["user", "tool"]);
    const tool = t.items[1] as ItemOf<"tool">;
    expect(tool).toMatchObject({
      toolCallId: "g1",
      title: "WriteFile notes.txt",
      status: "completed",
    });
    expect(tool.content).toHaveLength(1);
    expect(tool.permission).toMatchObject({ requestId: "prm1", options: ALLOW_REJECT });
    expect(tool.permission?.decision).toMatchObject({ outcome: "selected", optionId: "allow" });
  });

  it("asks on the card right after its tool call, or at the end when the card is far up", () => {
    const e = eventMaker();
    const call = (id: string) =>
      e.update({ sessionUpdate: "tool_call", toolCallId: id, title: `Run ${id}`, kind: "execute" });
    const ask = (requestId: string, toolCallId: string) =>
      e("permission_request", {
        request_id: requestId,
        tool_call: { toolCallId },
        options: ALLOW_REJECT,
      });
    const t = fold([
      call("a"),
      ask("r1", "a"),
      call("b"),
      e.text("agent", "meanwhile"),
      ask("r2", "b"),
    ]);
    expect(t.items.map((i) => i.type)).toEqual(["tool", "tool", "agent", "permission"]);
    expect((t.items[0] as ItemOf<"tool">).permission?.requestId).toBe("r1");
    expect((t.items[1] as ItemOf<"tool">).permission).toBeNull();
    expect(t.items[3]).toMatchObject({ title: "Run b", kind: "execute", toolCallId: "b" });

    const decided = applyEvents(t, [
      e("permission_decision", {
        request_id: "r2",
        outcome: "cancelled",
        option_id: null,
        by: null,
        policy: "cancelled",
      }),
    ]);
    expect((decided.items[3] as ItemOf<"permission">).permission.decision).toMatchObject({
      outcome: "cancelled",
      policy: "cancelled",
    });
    expect(decided.items[0]).toBe(t.items[0]);
  });

  it("follows a running command in one row, then replaces it with the whole output", () => {
    const e = eventMaker();
    const start = e("terminal", {
      terminal_id: "trm9",
      command: ["make"],
      running: true,
      append: "",
    });
    const t = fold([
      start,
      e("terminal", { terminal_id: "trm9", running: true, append: "cc a.c\n" }),
      e("terminal", { terminal_id: "trm9", running: true, append: "cc b.c\n", skipped: true }),
    ]);
    expect(t.items).toHaveLength(1);
    expect(t.items[0]).toMatchObject({
      type: "terminal",
      run: { command: "make", output: "cc a.c\ncc b.c\n", running: true, truncated: true },
    });
    const ended = applyEvents(t, [
      e("terminal", {
        terminal_id: "trm9",
        command: ["make"],
        output: "done\n",
        truncated: false,
        exit_status: { exitCode: 2, signal: null },
        running: false,
      }),
    ]);
    expect(ended.items).toHaveLength(1);
    expect(ended.items[0]).toMatchObject({
      run: { output: "done\n", running: false, exitCode: 2, truncated: false },
    });
  });

  it("shows a terminal's output in the tool call that refers to it, in either order", () => {
    const e = eventMaker();
    const run = (id: string) =>
      e("terminal", {
        terminal_id: id,
        command: ["bash", "-c", "echo hi"],
        output: "hi\n",
        truncated: false,
        exit_status: { exitCode: 0, signal: null },
      });
    const refer = (toolCallId: string, terminalId: string) =>
      e.update({
        sessionUpdate: "tool_call",
        toolCallId,
        title: "Run",
        kind: "execute",
        content: [{ type: "terminal", terminalId }],
      });
    const t = fold([
      refer("t1", "trm1"),
      run("trm1"),
      run("trm2"),
      refer("t2", "trm2"),
      run("trm3"),
    ]);
    expect(t.items.map((i) => i.type)).toEqual(["tool", "terminal", "tool", "terminal"]);
    const first = t.items[0] as ItemOf<"tool">;
    expect(first.terminals.trm1).toMatchObject({ command: "bash -c 'echo hi'", exitCode: 0 });
    // Reported before the tool call referred to it: the card takes it, the row steps back.
    expect((t.items[2] as ItemOf<"tool">).terminals.trm2?.output).toBe("hi\n");
    expect(t.items[1]).toMatchObject({ type: "terminal", embedded: true });
    expect(t.items[3]).toMatchObject({ type: "terminal", embedded: false });
  });

  it("keeps mode, commands, config options and the title beside the items", () => {
    const e = eventMaker();
    const t = fold([
      e("notice", {
        code: "agent_ready",
        message: "ready",
        modes: { currentModeId: "default", availableModes: [{ id: "plan", name: "Plan mode" }] },
      }),
      e.update({ sessionUpdate: "usage_update", used: 1200, size: 200000 }),
      e.update({
        sessionUpdate: "usage_update",
        used: 5000,
        size: 200000,
        cost: { amount: 0.12, currency: "USD" },
      }),
      e.update({ sessionUpdate: "current_mode_update", currentModeId: "plan" }),
      e.update({
        sessionUpdate: "available_commands_update",
        availableCommands: [{ name: "init", description: "Set up", input: { hint: "path" } }],
      }),
      e.update({
        sessionUpdate: "config_option_update",
        configOptions: [
          {
            id: "model",
            name: "Model",
            category: "model",
            type: "select",
            currentValue: "s",
            options: [{ group: "g", name: "G", options: [{ value: "s", name: "Sonnet" }] }],
          },
          { id: "fast", name: "Fast", type: "boolean", currentValue: true },
        ],
      }),
      e.update({ sessionUpdate: "session_info_update", title: "Fix the bug" }),
      e("turn_end", {
        prompt_id: "p",
        stop_reason: "end_turn",
        usage: { totalTokens: 30, inputTokens: 20, outputTokens: 10 },
      }),
    ]);
    expect(t.items.at(-1)).toMatchObject({
      type: "turn_end",
      usage: { total_tokens: 30, input_tokens: 20, output_tokens: 10, thought_tokens: null },
    });
    expect(t.mode).toBe("plan");
    expect(t.commands).toEqual([{ name: "init", description: "Set up", hint: "path" }]);
    expect(t.configOptions).toEqual([
      { id: "model", name: "Model", category: "model", value: "s", valueName: "Sonnet" },
      { id: "fast", name: "Fast", category: null, value: "on", valueName: null },
    ]);
    expect(t.title).toBe("Fix the bug");
    expect(t.items.map((i) => i.type)).toEqual([
      "mode",
      "commands",
      "config",
      "session_info",
      "turn_end",
    ]);
    expect(t.items[0]).toMatchObject({ modeId: "plan", name: "Plan mode" });
  });

  it("keeps what it does not know as unknown rows, and never throws on odd payloads", () => {
    const e = eventMaker();
    const t = fold([
      e.update({ sessionUpdate: "brand_new_update", detail: { x: 1 } }),
      e.update({}),
      e("a_future_event", { anything: true }),
      e.update({ sessionUpdate: "tool_call", toolCallId: 7, title: null, locations: "nope" }),
      e.update({ sessionUpdate: "plan", entries: [null, { content: "Do it" }] }),
      e("permission_request", { request_id: "r", tool_call: null, options: [{}, null] }),
      e("permission_decision", { request_id: "nobody" }),
      e("terminal", {}),
      { seq: 99, kind: "update", payload: null as unknown as Record<string, unknown>, at: "" },
    ]);
    expect(t.items.map((i) => i.type)).toEqual([
      "unknown",
      "unknown",
      "unknown",
      "tool",
      "plan",
      "tool",
      "terminal",
      "unknown",
    ]);
    expect(t.items[0]).toMatchObject({ source: "update", kind: "brand_new_update" });
    expect(t.items[2]).toMatchObject({ source: "event", kind: "a_future_event" });
    expect(t.items[3]).toMatchObject({ toolCallId: "7", title: "Tool call", locations: [] });
    expect((t.items[4] as ItemOf<"plan">).entries).toEqual([
      { content: "Do it", status: "pending", priority: undefined },
    ]);
    expect((t.items[5] as ItemOf<"tool">).permission?.options).toEqual([]);
  });

  it("marks a tool call whose update was too large to record", () => {
    const e = eventMaker();
    const t = fold([
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: "t",
        title: "Write big.txt",
        kind: "edit",
      }),
      e.update({
        truncated: true,
        bytes: 300_000,
        preview: "{...",
        sessionUpdate: "tool_call_update",
        toolCallId: "t",
      }),
    ]);
    expect(t.items).toHaveLength(1);
    expect(t.items[0]).toMatchObject({ title: "Write big.txt", truncatedBytes: 300_000 });
  });

  it("keeps the item list itself when a batch changes no item", () => {
    const e = eventMaker();
    const t = fold([e.text("agent", "hi")]);
    const next = applyEvents(t, [e.update({ sessionUpdate: "usage_update", used: 1, size: 2 })]);
    expect(next.items).toBe(t.items);
    expect(next.lastSeq).toBe(2);
  });

  it("ignores events it has, and sorts a batch out of order", () => {
    const e = eventMaker();
    const [a, b, c] = [e.text("agent", "a"), e.text("agent", "b"), e.text("agent", "c")];
    const t = fold([a!, b!]);
    expect(applyEvents(t, [a!, b!])).toBe(t);
    const next = applyEvents(t, [c!, b!]);
    expect((next.items[0] as ItemOf<"agent">).text).toBe("abc");
    expect(fold([c!, a!, b!]).items).toEqual(next.items);
  });

  it("gives the same result when a batch is applied twice to the same state", () => {
    // React's strict mode runs a reducer twice; the shared lookup caches must not mislead.
    const e = eventMaker();
    const base = fold([e.text("agent", "hi")]);
    const batch = [
      e.update({ sessionUpdate: "tool_call", toolCallId: "x", title: "One", status: "pending" }),
      e.update({ sessionUpdate: "tool_call_update", toolCallId: "x", status: "completed" }),
      e("permission_request", { request_id: "r", tool_call: { toolCallId: "y" }, options: [] }),
    ];
    const first = applyEvents(base, batch);
    const second = applyEvents(base, batch);
    expect(second.items).toEqual(first.items);
    expect(second.items).toHaveLength(3);
    expect(base.items).toHaveLength(1);
  });

  it("folds 5,000 events one at a time incrementally: each step replaces only what changed", () => {
    const events = longChat(5000);
    let t = emptyTranscript();
    let replacedOlder = 0;
    for (const event of events) {
      const before = t.items;
      t = applyEvents(t, [event]);
      // Everything but the last two items (a streaming message, a tool call being updated)
      // keeps its identity.
      for (let i = 0; i < before.length - 2; i++) {
        if (t.items[i] !== before[i]) replacedOlder++;
      }
    }
    expect(replacedOlder).toBe(0);
    expect(t.lastSeq).toBe(5000);
    expect(t.items).toEqual(fold(events).items);
    expect(t.items.length).toBeGreaterThan(2000);
  });
});

describe("shellJoin", () => {
  it("quotes only what needs it", () => {
    expect(shellJoin(["git", "commit", "-m", "it's done", ""])).toBe(
      `git commit -m 'it'\\''s done' ''`,
    );
  });
});
