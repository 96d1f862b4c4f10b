import { useAnswerPermission } from "../api/queries.ts";
import type { PermissionOption } from "../lib/acpPayload.ts";
import { ErrorMessage } from "./QueryStatus.tsx";

function optionClass(kind: string | undefined): string {
  if (kind?.startsWith("allow")) return "button-primary";
  if (kind?.startsWith("reject")) return "button-danger";
  return "";
}

/** The agent's options for one permission request, each a button that answers with it. */
export function PermissionButtons({
  requestId,
  options,
  label,
}: {
  requestId: string;
  options: readonly PermissionOption[];
  /** What the request is about, for screen readers: "Answer: Edit main.py". */
  label: string;
}) {
  const answer = useAnswerPermission();
  return (
    <div className="permission-answer">
      <div className="button-row" role="group" aria-label={`Answer: ${label}`}>
        {options.map((option) => (
          <button
            key={option.optionId}
            type="button"
            className={optionClass(option.kind)}
            disabled={answer.isPending || answer.isSuccess}
            onClick={() => answer.mutate({ requestId, optionId: option.optionId })}
          >
            {option.name ?? option.optionId}
          </button>
        ))}
      </div>
      {answer.isError && <ErrorMessage error={answer.error} />}
    </div>
  );
}
