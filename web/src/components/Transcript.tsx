import { measureElement, useWindowVirtualizer, type Virtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type RefObject } from "react";

import type { TranscriptItem } from "../lib/transcript.ts";
import { RowStateProvider } from "./chat/rowState.ts";
import { TranscriptRow } from "./chat/TranscriptRow.tsx";

/** Within this many pixels of the page's end counts as at the end: new rows keep it there. */
const STICK_PX = 120;
/** Rows rendered beyond each edge of the viewport. */
const OVERSCAN = 6;
/** A line of text in a message, and about how many characters fill one. */
const LINE_PX = 22;
const LINE_CHARS = 90;

function textLines(text: string, max: number): number {
  let newlines = 0;
  for (let i = text.indexOf("\n"); i >= 0 && newlines < max; i = text.indexOf("\n", i + 1)) {
    newlines++;
  }
  return Math.min(max, Math.ceil(text.length / LINE_CHARS) + newlines);
}

/** A row's height before it is measured: near enough that measuring moves little. */
export function estimateHeight(item: TranscriptItem | undefined): number {
  if (!item) return 40;
  switch (item.type) {
    case "user":
      return 44 + LINE_PX * textLines(item.text, 40);
    case "agent":
      return 44 + LINE_PX * textLines(item.text, 300);
    case "tool": {
      let height = 56 + 24 * item.locations.length + (item.permission ? 70 : 0);
      for (const c of item.content) height += c.type === "diff" ? 320 : 140;
      return Math.min(height, 1200);
    }
    case "plan":
      return 72 + 26 * item.entries.length;
    case "permission":
      return 140;
    case "notice":
      return 34 + (item.detail.length > 0 ? 20 * Math.min(item.detail.length, 20) : 0);
    default:
      return 36;
  }
}

/**
 * The row's measured height. Without layout (a chat in a hidden tab, or jsdom) every row would
 * measure 0: keep what was known of it, or the estimate, so nothing collapses or shifts.
 */
function measureRow(
  element: HTMLLIElement,
  entry: ResizeObserverEntry | undefined,
  instance: Virtualizer<Window, HTMLLIElement>,
): number {
  const size = measureElement(element, entry, instance);
  if (size > 0) return size;
  const index = instance.indexFromElement(element);
  return (
    instance.itemSizeCache.get(instance.options.getItemKey(index)) ??
    instance.options.estimateSize(index)
  );
}

/**
 * Where `list` starts in the page, for the virtualiser's offsets. Checked after each render and
 * whenever the page or the list changes size (the header above it grows as the session loads; a
 * tab that was hidden is shown).
 */
function useListTop(list: RefObject<HTMLElement | null>): number {
  const [top, setTop] = useState(0);
  const update = useCallback(() => {
    if (!list.current) return;
    const next = list.current.getBoundingClientRect().top + window.scrollY;
    setTop((known) => (Math.abs(known - next) >= 1 ? next : known));
  }, [list]);
  useLayoutEffect(update);
  useEffect(() => {
    if (!list.current || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(update);
    observer.observe(document.body);
    observer.observe(list.current);
    return () => observer.disconnect();
  }, [list, update]);
  return top;
}

/**
 * A session's transcript, oldest first, as a virtualised list in the page's own scroll: only
 * the rows near the viewport are rendered, each measured as it renders. While the page is
 * scrolled to its end, new and growing rows keep it there; scrolled up, it stays put.
 */
export function Transcript({
  items,
  canAnswer,
}: {
  items: readonly TranscriptItem[];
  /** Whether pending permission requests get their option buttons (the session is live). */
  canAnswer: boolean;
}) {
  const list = useRef<HTMLOListElement>(null);
  // Rows' UI state (open blocks, diff views) outlives their unmounting when scrolled away.
  const [rowState] = useState(() => new Map<string, unknown>());
  const empty = items.length === 0;
  useEffect(() => {
    if (empty) rowState.clear(); // another session, or the same one loaded again
  }, [empty, rowState]);

  const scrollMargin = useListTop(list);
  const getItemKey = useCallback((index: number) => items[index]?.key ?? index, [items]);
  const estimateSize = useCallback((index: number) => estimateHeight(items[index]), [items]);
  const virtualizer = useWindowVirtualizer<HTMLLIElement>({
    count: items.length,
    getItemKey,
    estimateSize,
    overscan: OVERSCAN,
    scrollMargin,
    anchorTo: "end",
    followOnAppend: true,
    scrollEndThreshold: STICK_PX,
    initialRect:
      typeof window === "undefined"
        ? undefined
        : { width: window.innerWidth, height: window.innerHeight },
    measureElement: measureRow,
  });

  const margin = virtualizer.options.scrollMargin;
  return (
    <RowStateProvider value={rowState}>
      <ol
        ref={list}
        className="transcript transcript-virtual"
        style={{ height: virtualizer.getTotalSize() }}
      >
        {virtualizer.getVirtualItems().map((row) => {
          const item = items[row.index];
          if (!item) return null;
          return (
            <li
              key={row.key}
              ref={virtualizer.measureElement}
              data-index={row.index}
              data-seq={item.seq}
              style={{ transform: `translateY(${row.start - margin}px)` }}
            >
              <TranscriptRow
                item={item}
                canAnswer={canAnswer}
                isLast={row.index === items.length - 1}
              />
            </li>
          );
        })}
      </ol>
    </RowStateProvider>
  );
}
