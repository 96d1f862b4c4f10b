import { useEffect } from "react";
import { useLocation } from "react-router";

/**
 * Scrolls to the element the URL's `#fragment` names when the page is reached through the app's
 * own links (`/settings#agents`): the router changes the URL without the browser's jump.
 */
export function useScrollToHash() {
  const { hash } = useLocation();
  useEffect(() => {
    if (hash.length > 1)
      document.getElementById(decodeURIComponent(hash.slice(1)))?.scrollIntoView();
  }, [hash]);
}
