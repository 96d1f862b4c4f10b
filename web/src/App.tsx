import { Route, Routes } from "react-router";

import { isApiError } from "./api/client.ts";
import { useMe } from "./api/queries.ts";
import { Layout } from "./components/Layout.tsx";
import { ErrorMessage } from "./components/QueryStatus.tsx";
import { DashboardPage } from "./pages/DashboardPage.tsx";
import { NotFoundPage } from "./pages/NotFoundPage.tsx";
import { ProjectPage } from "./pages/ProjectPage.tsx";
import { ProjectsPage } from "./pages/ProjectsPage.tsx";
import { SessionPage } from "./pages/SessionPage.tsx";
import { SettingsPage } from "./pages/SettingsPage.tsx";
import { SignedOutPage } from "./pages/SignedOutPage.tsx";
import { WorkspacePage } from "./pages/WorkspacePage.tsx";

export function App() {
  const me = useMe();

  if (me.isPending) {
    return (
      <main id="main" className="splash">
        <p className="muted">Loading…</p>
      </main>
    );
  }
  if (me.isError && isApiError(me.error) && me.error.isUnauthenticated) {
    return <SignedOutPage disabled={me.error.code === "user_disabled"} />;
  }
  if (me.data === undefined) {
    return (
      <main id="main" className="splash">
        <h1>Corral</h1>
        <ErrorMessage error={me.error} />
        <button type="button" onClick={() => void me.refetch()}>
          Try again
        </button>
      </main>
    );
  }

  return (
    <Routes>
      <Route element={<Layout user={me.data} />}>
        <Route index element={<DashboardPage />} />
        <Route path="sessions/:id" element={<SessionPage />} />
        <Route path="projects" element={<ProjectsPage />} />
        <Route path="projects/:ref" element={<ProjectPage />} />
        <Route path="settings" element={<SettingsPage />} />
        <Route path="workspaces/:id" element={<WorkspacePage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
