import { useEffect } from "react";

/** Sets the document title to "<title> · Corral" while the page is shown. */
export function useTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · Corral` : "Corral";
  }, [title]);
}
