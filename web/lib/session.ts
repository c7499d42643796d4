/**
 * Where the browser keeps its sign-in: the access and refresh tokens live in
 * sessionStorage (this tab only, gone when it closes), never in the page
 * source, cookies or localStorage. The device id is not a secret: it lets the
 * control plane recognise this browser as a known or trusted device.
 */
const KEY = "rap.session";
const DEVICE = "rap.device_id";

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  session_id: string;
}

export function loadTokens(): Tokens | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

export function saveTokens(t: Tokens): void {
  sessionStorage.setItem(
    KEY,
    JSON.stringify({ access_token: t.access_token, refresh_token: t.refresh_token, expires_in: t.expires_in, session_id: t.session_id }),
  );
}

export function clearTokens(): void {
  sessionStorage.removeItem(KEY);
}

export function deviceId(): string {
  let id = localStorage.getItem(DEVICE);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    id = `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    localStorage.setItem(DEVICE, id);
  }
  return id;
}
