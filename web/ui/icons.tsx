/** Inline SVG icons (no icon font: glyph coverage differs between machines). */
const I = (d: string) =>
  function Icon() {
    return (
      <svg width="14" height="14" viewBox="0 0 16 16" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
        <path d={d} />
      </svg>
    );
  };
export const IconCamera = I("M2 5h3l1.5-2h3L11 5h3v8H2z M8 11.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5");
export const IconRewind = I("M8 4 3 8l5 4z M14 4 9 8l5 4z");
export const IconClose = I("M4 4l8 8M12 4l-8 8");
export const IconPrev = I("M4 3v10 M13 3 6 8l7 5z");
export const IconNext = I("M12 3v10 M3 3l7 5-7 5z");
export const IconPlay = I("M5 3l8 5-8 5z");
export const IconPause = I("M5 3v10 M11 3v10");
