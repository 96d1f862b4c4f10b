import { memo, useDeferredValue } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

import { CodeBlock } from "./CodeBlock.tsx";

// No rehype-raw: HTML in an agent's markdown shows as text, never as markup.
const REMARK_PLUGINS = [remarkGfm];

interface HastNode {
  type: string;
  tagName?: string;
  value?: string;
  properties?: Record<string, unknown>;
  children?: HastNode[];
}

function textOf(node: HastNode): string {
  if (node.type === "text") return node.value ?? "";
  return (node.children ?? []).map(textOf).join("");
}

/** The language of a `<code class="language-x">`, as remark writes a fence's info string. */
function fenceLanguage(code: HastNode | undefined): string | null {
  const classes = code?.properties?.className;
  const list = Array.isArray(classes) ? classes.map(String) : [];
  const tag = list.find((c) => c.startsWith("language-"));
  return tag ? tag.slice("language-".length) : null;
}

const COMPONENTS: Components = {
  // react-markdown empties an unsafe URL (javascript: and the like): that is no link at all.
  a: ({ href, children }) =>
    href ? (
      <a href={href} target="_blank" rel="noreferrer noopener">
        {children}
      </a>
    ) : (
      <>{children}</>
    ),
  // An image would be fetched from wherever the agent points: show a link to it instead.
  img: ({ src, alt }) =>
    typeof src === "string" && src ? (
      <a href={src} target="_blank" rel="noreferrer noopener">
        {alt || src}
      </a>
    ) : (
      <>{alt}</>
    ),
  pre: ({ node }) => {
    const code = (node as HastNode | undefined)?.children?.find(
      (c) => c.type === "element" && c.tagName === "code",
    );
    const text = code ? textOf(code) : node ? textOf(node as HastNode) : "";
    return <CodeBlock code={text.replace(/\n$/, "")} language={fenceLanguage(code)} />;
  },
};

/**
 * Markdown (GitHub-flavoured) from an agent. While a message streams, parsing its whole text on
 * every chunk would fall behind: the deferred value lets React skip to the latest text.
 */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const deferred = useDeferredValue(text);
  return (
    <div className="markdown">
      <ReactMarkdown remarkPlugins={REMARK_PLUGINS} components={COMPONENTS}>
        {deferred}
      </ReactMarkdown>
    </div>
  );
});
