/**
 * Keyboard and mouse of the desktop viewer, as input events of the RDP wire
 * (rdp-wire.ts). Keys go as set-1 scancodes of the physical key
 * (scancodes.ts), so the remote layout applies; a key with no scancode that
 * typed a character, text composed with an input method, and text a virtual
 * keyboard inserted go as unicode events. Keys and buttons are sent at once
 * (with the pointer's latest position first, so a click lands where it
 * should); pointer moves are coalesced to one per animation frame. Losing
 * focus sends "release all", so no key stays down on the remote side.
 *
 * Keyboard events are read from a hidden text box (`sink`) that takes focus
 * when the desktop is clicked: only an editable element receives input-method
 * composition events. Pointer positions are scaled from the canvas's CSS box
 * to desktop pixels.
 */
import type { InputEvent as RdpInput, MouseButton } from "../client/rdp-wire.ts";
import { WHEEL_NOTCH } from "../client/rdp-wire.ts";
import { scancodeOf } from "./scancodes.ts";

export interface InputCapture {
  /** Sends a key chord explicitly (e.g. Ctrl+Alt+Del): all down in order, then up in reverse. */
  chord(scancodes: number[]): void;
  focus(): void;
  /** Stops sending for good (taken over, ended). */
  disable(): void;
  dispose(): void;
}

const BUTTON_OF: Record<number, MouseButton> = { 0: "left", 1: "middle", 2: "right", 3: "x1", 4: "x2" };
/** Pixels of a pixel-mode wheel that make one notch (browsers report about 100 per notch). */
const PIXELS_PER_NOTCH = 100;
const LINES_PER_NOTCH = 3;
const BACKSPACE = 0x0e;

const codepoints = (text: string) => [...text].map((c) => c.codePointAt(0)!);
const press = (cp: number): RdpInput[] => [
  { type: "unicode", codepoint: cp, down: true },
  { type: "unicode", codepoint: cp, down: false },
];

export function captureInput(o: {
  canvas: HTMLCanvasElement;
  sink: HTMLTextAreaElement;
  send: (events: RdpInput[]) => void;
  /** The desktop's size in pixels, or null before the first desktop message. */
  desktop: () => { width: number; height: number } | null;
}): InputCapture {
  const { canvas, sink, send } = o;
  let enabled = true;
  let pendingMove: RdpInput | null = null;
  let frame = 0;
  let composing = false;
  let wheelX = 0;
  let wheelY = 0;
  const unicodeDown = new Map<string, number>();
  const off: (() => void)[] = [];
  const on = <E extends Event>(target: EventTarget, type: string, fn: (e: E) => void, opts?: AddEventListenerOptions) => {
    target.addEventListener(type, fn as EventListener, opts);
    off.push(() => target.removeEventListener(type, fn as EventListener, opts));
  };

  const emit = (events: RdpInput[]) => {
    if (!enabled) return;
    const out = pendingMove ? [pendingMove, ...events] : events;
    pendingMove = null;
    if (out.length > 0) send(out);
  };
  const flushMove = () => {
    frame = 0;
    if (pendingMove) emit([]);
  };

  const position = (e: MouseEvent): RdpInput | null => {
    const d = o.desktop();
    const r = canvas.getBoundingClientRect();
    if (!d || r.width === 0 || r.height === 0) return null;
    const clamp = (v: number, max: number) => Math.min(max - 1, Math.max(0, Math.floor(v)));
    return { type: "move", x: clamp(((e.clientX - r.left) * d.width) / r.width, d.width), y: clamp(((e.clientY - r.top) * d.height) / r.height, d.height) };
  };

  on<PointerEvent>(canvas, "pointermove", (e) => {
    if (!enabled) return;
    const p = position(e);
    if (!p) return;
    pendingMove = p;
    frame ||= requestAnimationFrame(flushMove);
  });
  on<PointerEvent>(canvas, "pointerdown", (e) => {
    const button = BUTTON_OF[e.button];
    e.preventDefault();
    sink.focus({ preventScroll: true });
    if (!enabled || !button) return;
    canvas.setPointerCapture?.(e.pointerId);
    pendingMove = position(e) ?? pendingMove;
    emit([{ type: "button", button, down: true }]);
  });
  on<PointerEvent>(canvas, "pointerup", (e) => {
    const button = BUTTON_OF[e.button];
    if (!enabled || !button) return;
    e.preventDefault();
    pendingMove = position(e) ?? pendingMove;
    emit([{ type: "button", button, down: false }]);
  });
  on<Event>(canvas, "contextmenu", (e) => e.preventDefault());
  on<WheelEvent>(
    canvas,
    "wheel",
    (e) => {
      e.preventDefault();
      if (!enabled) return;
      // Pixel and line deltas add up to whole notches of 120 (smooth scrolling keeps its remainder for the next event).
      const unit = e.deltaMode === 0 ? WHEEL_NOTCH / PIXELS_PER_NOTCH : e.deltaMode === 1 ? WHEEL_NOTCH / LINES_PER_NOTCH : WHEEL_NOTCH;
      wheelY += -e.deltaY * unit;
      wheelX += e.deltaX * unit;
      const events: RdpInput[] = [];
      for (const [acc, horizontal] of [
        [wheelY, false],
        [wheelX, true],
      ] as const) {
        const delta = Math.trunc(Math.max(-0x8000, Math.min(0x7fff, acc)));
        if (Math.abs(delta) >= 1) events.push({ type: "wheel", delta, horizontal });
      }
      wheelY -= Math.trunc(Math.max(-0x8000, Math.min(0x7fff, wheelY)));
      wheelX -= Math.trunc(Math.max(-0x8000, Math.min(0x7fff, wheelX)));
      pendingMove = position(e) ?? pendingMove;
      emit(events);
    },
    { passive: false },
  );

  on<KeyboardEvent>(sink, "keydown", (e) => {
    // An input method is composing: its result arrives with compositionend.
    if (e.isComposing || composing || e.keyCode === 229) return;
    const sc = scancodeOf(e.code);
    if (sc !== undefined) {
      e.preventDefault();
      emit([{ type: "key", scancode: sc, down: true }]);
      return;
    }
    const cps = codepoints(e.key);
    if (cps.length === 1) {
      e.preventDefault();
      unicodeDown.set(e.code || e.key, cps[0]!);
      emit([{ type: "unicode", codepoint: cps[0]!, down: true }]);
    }
  });
  on<KeyboardEvent>(sink, "keyup", (e) => {
    if (e.isComposing || composing) return;
    const sc = scancodeOf(e.code);
    if (sc !== undefined) {
      e.preventDefault();
      emit([{ type: "key", scancode: sc, down: false }]);
      return;
    }
    const cp = unicodeDown.get(e.code || e.key);
    if (cp !== undefined) {
      unicodeDown.delete(e.code || e.key);
      emit([{ type: "unicode", codepoint: cp, down: false }]);
    }
  });
  on<CompositionEvent>(sink, "compositionstart", () => {
    composing = true;
  });
  on<CompositionEvent>(sink, "compositionend", (e) => {
    composing = false;
    emit(codepoints(e.data ?? "").flatMap(press));
    sink.value = "";
  });
  // Text that arrived without a key we handled (virtual keyboards, dictation): typed as unicode.
  on<InputEvent>(sink, "input", (e) => {
    if (composing || e.isComposing) return;
    if (e.inputType === "insertText" && e.data) emit(codepoints(e.data).flatMap(press));
    else if (e.inputType === "deleteContentBackward")
      emit([
        { type: "key", scancode: BACKSPACE, down: true },
        { type: "key", scancode: BACKSPACE, down: false },
      ]);
    sink.value = "";
  });
  const releaseAll = () => {
    unicodeDown.clear();
    emit([{ type: "release_all" }]);
  };
  on<FocusEvent>(sink, "blur", releaseAll);
  on<Event>(document, "visibilitychange", () => document.visibilityState === "hidden" && releaseAll());

  return {
    chord(scancodes) {
      emit([
        ...scancodes.map((scancode) => ({ type: "key", scancode, down: true }) as const),
        ...[...scancodes].reverse().map((scancode) => ({ type: "key", scancode, down: false }) as const),
      ]);
      sink.focus({ preventScroll: true });
    },
    focus: () => sink.focus({ preventScroll: true }),
    disable() {
      enabled = false;
      pendingMove = null;
    },
    dispose() {
      enabled = false;
      if (frame) cancelAnimationFrame(frame);
      for (const f of off) f();
    },
  };
}
