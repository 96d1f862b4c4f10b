import { Component, type ErrorInfo, type ReactNode } from "react";

interface State {
  error: Error | null;
}

/**
 * Shows a failure in place of the page that threw while rendering, instead of a blank screen;
 * the header stays, so the user can go elsewhere. Keyed by the route, it resets on navigation.
 */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("the page failed to render", error, info.componentStack);
  }

  override render() {
    if (this.state.error === null) return this.props.children;
    return (
      <div className="page-error" role="alert">
        <h1>This page failed to show</h1>
        <p>
          Something in it could not be displayed: <code>{this.state.error.message}</code>
        </p>
        <p>
          <button type="button" onClick={() => window.location.reload()}>
            Reload
          </button>
        </p>
      </div>
    );
  }
}
