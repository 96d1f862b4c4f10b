import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { NavLink, Outlet, useLocation } from "react-router";

import { openLiveUpdates } from "../api/live.ts";

import { useLogout } from "../api/queries.ts";
import type { User } from "../api/types.ts";
import { ConnectionIndicator } from "./ConnectionIndicator.tsx";
import { ErrorBoundary } from "./ErrorBoundary.tsx";

/** The app shell: header with the nav, who is signed in, and Sign out; the page below. */
export function Layout({ user }: { user: User }) {
  const logout = useLogout();
  const client = useQueryClient();
  const location = useLocation();
  useEffect(() => {
    const live = openLiveUpdates(client);
    return () => live.close();
  }, [client]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <NavLink to="/" className="brand" end>
          Corral
        </NavLink>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/" end>
                Dashboard
              </NavLink>
            </li>
            <li>
              <NavLink to="/projects">Projects</NavLink>
            </li>
            <li>
              <NavLink to="/settings">Settings</NavLink>
            </li>
          </ul>
        </nav>
        <div className="header-end">
          <ConnectionIndicator />
          <span className="whoami" title={`Signed in as ${user.name} (${user.role})`}>
            {user.name}
          </span>
          <button type="button" onClick={() => logout.mutate()} disabled={logout.isPending}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary key={location.pathname}>
          <Outlet />
        </ErrorBoundary>
      </main>
    </>
  );
}
