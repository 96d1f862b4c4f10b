import { memo, useMemo } from "react";

import { highlightCode, knownLanguage } from "../../lib/highlight.ts";

/** A fenced code block, highlighted when its language is one lib/highlight.ts knows. */
export const CodeBlock = memo(function CodeBlock({
  code,
  language,
}: {
  code: string;
  language: string | null;
}) {
  const known = knownLanguage(language);
  const html = useMemo(() => highlightCode(code, known), [code, known]);
  return (
    <div className="code-block">
      {language && <span className="code-language">{language}</span>}
      <pre>
        {html === null ? (
          <code>{code}</code>
        ) : (
          // highlight.js escapes the code's text; its only markup is its own <span> classes.
          <code className={`hljs language-${known}`} dangerouslySetInnerHTML={{ __html: html }} />
        )}
      </pre>
    </div>
  );
});
