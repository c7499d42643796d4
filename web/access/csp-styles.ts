/**
 * xterm.js under the portal's strict CSP (`style-src 'self'`, no
 * 'unsafe-inline'). Its DOM renderer writes the theme and cell sizes into
 * `<style>` elements it creates, and colours some cells with
 * `setAttribute("style", …)`; the browser refuses both as inline styles, so
 * the terminal would render without colours or row heights (xterm.js issue
 * 4445). CSSOM is not inline markup and CSP allows it: this module gives
 * xterm stand-ins whose text goes into a constructed stylesheet, and turns a
 * `style` attribute into `element.style.cssText`. Installed once by the
 * portal's entry module; nothing else in the portal creates `<style>` or
 * sets `style` attributes, so the patch changes no other behaviour.
 */

/** An inert element standing in for a `<style>`: its text feeds a constructed stylesheet adopted by the document. */
function styleStandIn(doc: Document, create: Document["createElement"]): HTMLElement {
  const el = create.call(doc, "xterm-style");
  el.hidden = true;
  const sheet = new CSSStyleSheet();
  doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  let text = "";
  const write = {
    get: () => text,
    set: (v: string | null) => {
      text = v ?? "";
      sheet.replaceSync(text);
    },
    configurable: true,
  };
  Object.defineProperty(el, "textContent", write);
  Object.defineProperty(el, "innerText", write);
  const remove = el.remove.bind(el);
  el.remove = () => {
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
    remove();
  };
  return el;
}

export function installCspSafeStyles(doc: Document = document): void {
  const create = doc.createElement;
  doc.createElement = function (this: Document, tag: string, options?: ElementCreationOptions) {
    return tag.toLowerCase() === "style" ? styleStandIn(doc, create) : create.call(this, tag, options);
  } as Document["createElement"];
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string) {
    if (name.toLowerCase() === "style" && this instanceof HTMLElement) this.style.cssText = value;
    else setAttribute.call(this, name, value);
  };
}
