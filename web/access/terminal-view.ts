/**
 * The terminal on screen: xterm.js fitted to its container, with no
 * knowledge of the network. The terminal page wires it to a transport:
 * `onInput` gives the keystrokes as bytes, `write` shows output, `onResize`
 * reports the size in cells whenever the window (and so the container)
 * changes, and `disableInput` stops input for good (taken over, ended).
 */
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

export interface TerminalView {
  el: HTMLElement;
  /** Opens the terminal in `el`; call once `el` is in the document (xterm measures the font there). */
  open(): void;
  write(bytes: Uint8Array | string): void;
  onInput(cb: (bytes: Uint8Array) => void): void;
  onResize(cb: (cols: number, rows: number) => void): void;
  size(): { cols: number; rows: number };
  disableInput(): void;
  focus(): void;
  dispose(): void;
}

const encoder = new TextEncoder();

export function terminalView(): TerminalView {
  const el = document.createElement("div");
  el.className = "terminal-host";
  el.dataset.testid = "terminal";
  const term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontSize: 14,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace',
    theme: { background: "#0f1725", foreground: "#e6edf7" },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  let inputOn = true;
  const fitNow = () => {
    // A hidden or zero-sized container has nothing to fit to.
    if (el.clientWidth > 0 && el.clientHeight > 0) fit.fit();
  };
  const observer = new ResizeObserver(fitNow);

  return {
    el,
    open() {
      term.open(el);
      fitNow();
      observer.observe(el);
    },
    write: (bytes) => term.write(bytes),
    onInput(cb) {
      term.onData((s) => inputOn && cb(encoder.encode(s)));
      // Binary input (some mouse reports) arrives as a string of byte values.
      term.onBinary((s) => inputOn && cb(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)));
    },
    onResize: (cb) => void term.onResize(({ cols, rows }) => cb(cols, rows)),
    size: () => ({ cols: term.cols, rows: term.rows }),
    disableInput() {
      inputOn = false;
      term.options.disableStdin = true;
      term.options.cursorBlink = false;
    },
    focus: () => term.focus(),
    dispose() {
      observer.disconnect();
      term.dispose();
    },
  };
}
