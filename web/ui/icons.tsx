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
export const IconMaximise = I("M3 6V3h3 M10 3h3v3 M13 10v3h-3 M6 13H3v-3");
export const IconRestore = I("M6 3v3H3 M10 3v3h3 M13 10h-3v3 M3 10h3v3");
export const IconFullscreen = I("M2 5V2h3 M11 2h3v3 M14 11v3h-3 M5 14H2v-3 M5 5h6v6H5z");
export const IconMenu = I("M2 4h12 M2 8h12 M2 12h12");
export const IconBell = I("M4 11V7a4 4 0 0 1 8 0v4l1.5 1.5h-11z M6.5 14a1.5 1.5 0 0 0 3 0");
