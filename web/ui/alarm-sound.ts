/**
 * The optional alarm sound: a short beep made with WebAudio (no audio file to fetch), off by
 * default, switched per user in this browser. Browsers only start audio after a user gesture,
 * so the AudioContext is created (or resumed) when the user switches the sound on, and again on
 * any later click, key or touch of the page.
 */
const key = (user: string) => `outpost.alarmSound.${user}`;

export function soundOn(user: string): boolean {
  return localStorage.getItem(key(user)) === "on";
}

export function setSoundOn(user: string, on: boolean): void {
  localStorage.setItem(key(user), on ? "on" : "off");
  if (on) unlock();
  dispatchEvent(new CustomEvent("outpost-alarm-sound"));
}

let ctx: AudioContext | null = null;

function unlock(): void {
  try {
    ctx ??= new AudioContext();
    if (ctx.state === "suspended") void ctx.resume();
  } catch {
    ctx = null; // no WebAudio: the pop-up still shows
  }
}
for (const ev of ["pointerdown", "keydown"]) addEventListener(ev, () => ctx?.state === "suspended" && void ctx.resume(), { passive: true });

/** Three rising beeps; more urgent priorities beep higher. Returns false if the browser would not play it. */
export function beep(priority: number): boolean {
  unlock();
  if (!ctx || ctx.state !== "running") return false;
  const base = priority <= 1 ? 1046 : priority === 2 ? 880 : 660;
  const t0 = ctx.currentTime + 0.02;
  for (let i = 0; i < 3; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = base * (1 + i * 0.12);
    const t = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  }
  return true;
}
