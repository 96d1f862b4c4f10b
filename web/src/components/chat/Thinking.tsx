import { memo } from "react";

import { Disclosure } from "./Disclosure.tsx";
import { Markdown } from "./Markdown.tsx";

/**
 * The agent's thinking: open while it streams, collapsed once what follows it starts (unless
 * the user opened or closed it themselves).
 */
export const Thinking = memo(function Thinking({
  text,
  streaming,
  stateKey,
}: {
  text: string;
  streaming: boolean;
  stateKey?: string;
}) {
  return (
    <Disclosure
      className="thought"
      summary={streaming ? "Thinking…" : "Thinking"}
      defaultOpen={streaming}
      stateKey={stateKey}
    >
      <Markdown text={text} />
    </Disclosure>
  );
});
