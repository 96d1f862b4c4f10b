import { useParams } from "react-router";

import { useSession } from "../api/queries.ts";
import { SessionView } from "../components/SessionView.tsx";
import { useTitle } from "../hooks/useTitle.ts";

export function SessionPage() {
  const { id = "" } = useParams();
  const s = useSession(id).data;
  useTitle(s ? `${s.title || s.agent} (${s.state.replaceAll("_", " ")})` : "Session");
  return (
    <div className="session-page">
      <SessionView sessionId={id} />
    </div>
  );
}
