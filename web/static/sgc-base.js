// sgc-base.js: sgc's browser base library (what sgc's server serves as
// sgcWebSockets.js) over rollcall.js, for pages written for sgc.
//
// This file is not served by itself. The server serves it at any path
// ending in sgcWebSockets.js as ONE classic (non-module) script: rollcall.js
// with its export keywords removed, then this file, in one function scope
// (web/classic.go), so encodeBase64 and decodeBase64 below are rollcall.js's.
// The script at …/presence.esegece.com.js holds it too (then
// sgc-presence.js), so a page may load either or both.
//
// It defines what pages use of sgc's base library:
//
//   GUID()              32 random lowercase hex digits
//   sgcEncodeBase64     false; a page sets it true to write sgc@b64: values
//   sgcEncodeB64(text)  "sgc@b64:" + Base64 of text when sgcEncodeBase64 is
//                       true (UTF-8, where sgc's is Latin-1 and throws above
//                       U+00FF), text otherwise; "" stays ""
//   sgcDecodeB64(text)  the text of an sgc@b64: value (UTF-8, or Latin-1
//                       when the bytes are not UTF-8), other values as given
//   sgcWebSocket        a WebSocket client:
//     new sgcWebSocket(host[, subprotocol[, transports]]) or
//     new sgcWebSocket({host, subprotocol, user, password, transport});
//     it opens at once. Properties host, subprotocol, user, password,
//     transport (accepted, WebSocket is the only one) and websocket (the
//     browser's WebSocket of the last open()). Methods open() (a new
//     connection, e.g. after the server restarted), send(text),
//     sendbin(data), close(), state() ("connecting", "open", "closing",
//     "closed") and on(name, fn). Events: open {name: "onopen", message},
//     close {name: "onclose", message, code, reason, clean (wasClean)},
//     message {name: "onmessage", message: the text} of a text frame,
//     stream {name: "onstream", stream: the Blob} of a binary frame, error
//     {name: "onerror", message}.
//
// As sgc's does, it joins host and path as given: with a user it opens
// host + "/sgc/auth/url/<user>/<password>" (URL-escape them yourself), so a
// host ending in "/" opens "//sgc/…", which rollcall accepts. Where it
// differs: on(name, fn) adds a listener (sgc keeps only the last one of
// each event; the same fn added twice still runs once), and a listener that
// throws is reported on the console without stopping the others.

/* global encodeBase64, decodeBase64 */

const SGC_AUTH_PATH = "/sgc/auth/url/";
const SGC_STATES = ["connecting", "open", "closing", "closed"];

function GUID() {
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) {
    globalThis.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @param {unknown} text */
function sgcEncodeB64(text) {
  const s = String(text ?? "");
  return s !== "" && globalThis.sgcEncodeBase64 === true ? encodeBase64(s) : s;
}

/** @param {unknown} text */
function sgcDecodeB64(text) {
  if (typeof text !== "string") return text;
  try {
    return decodeBase64(text);
  } catch {
    return text; // not Base64 after all: as sent
  }
}

class sgcWebSocket {
  /**
   * @param {string|{host?: string, subprotocol?: string, user?: string, password?: string, transport?: unknown}} [host]
   * @param {string} [subprotocol]
   * @param {unknown} [transport]
   */
  constructor(host, subprotocol, transport) {
    /** @type {Map<string, Function[]>} */
    this._listeners = new Map();
    /** @type {any} the browser's WebSocket of the last open() */
    this.websocket = undefined;
    if (arguments.length === 0) return; // as sgc's: an object with no connection
    const o = host !== null && typeof host === "object" ? host : { host, subprotocol, transport };
    this.host = o.host === undefined ? "127.0.0.1" : String(o.host);
    this.subprotocol = o.subprotocol === undefined || o.subprotocol === null ? "" : String(o.subprotocol);
    this.user = o.user;
    this.password = o.password;
    this.transport = o.transport ?? ["websocket", "sse"];
    this.open();
  }

  /** The URL open() connects to: host, or host + the credentials path. */
  _url() {
    if (this.user === undefined || this.user === null || this.user === "") return this.host;
    return this.host + SGC_AUTH_PATH + this.user + "/" + (this.password ?? "");
  }

  /** @returns {string[]} */
  _protocols() {
    return this.subprotocol ? [this.subprotocol] : [];
  }

  /** Opens a new connection; the previous one, if any, is left as it is. */
  open() {
    this._watch(new globalThis.WebSocket(this._url(), this._protocols()));
  }

  /**
   * Makes ws the current socket and turns its events into the page's.
   * @param {any} ws
   */
  _watch(ws) {
    this.websocket = ws;
    ws.addEventListener("open", () => this._fire("open", { name: "onopen", message: "" }));
    ws.addEventListener("message", (/** @type {any} */ ev) => {
      if (typeof ev.data === "string") this._text(ev.data);
      else this._fire("stream", { name: "onstream", stream: ev.data });
    });
    ws.addEventListener("close", (/** @type {any} */ ev) =>
      this._fire("close", { name: "onclose", message: "", code: ev.code, reason: ev.reason, clean: ev.wasClean }),
    );
    ws.addEventListener("error", (/** @type {any} */ ev) => this._fire("error", { name: "onerror", message: ev.data }));
    return ws;
  }

  /**
   * A text frame arrived: the message event (sgcws_presence reads it
   * instead).
   * @param {string} text
   */
  _text(text) {
    this._fire("message", { name: "onmessage", message: text });
  }

  /**
   * Adds a listener for an event.
   * @param {string} name
   * @param {(e: any) => void} fn
   */
  on(name, fn) {
    const list = this._listeners.get(name) ?? [];
    if (typeof fn === "function" && !list.includes(fn)) list.push(fn);
    this._listeners.set(name, list);
  }

  /**
   * @param {string} name
   * @param {any} detail
   */
  _fire(name, detail) {
    for (const fn of [...(this._listeners.get(name) ?? [])]) {
      try {
        fn(detail);
      } catch (error) {
        console.error(`rollcall: an ${this.constructor.name} "${name}" listener threw:`, error);
      }
    }
  }

  /**
   * Sends a text frame, as the browser's WebSocket does (it throws while
   * connecting).
   * @param {string} text
   */
  send(text) {
    this.websocket.send(text);
  }

  /**
   * Sends a binary frame (an ArrayBuffer, a typed array or a Blob).
   * @param {any} data
   */
  sendbin(data) {
    this.websocket.send(data);
  }

  /** Closes the connection (close code 1000). */
  close() {
    this.websocket?.close();
  }

  /** "connecting", "open", "closing" or "closed" ("undefined" before any open). */
  state() {
    return SGC_STATES[this.websocket?.readyState] ?? "undefined";
  }
}

if (typeof globalThis.sgcEncodeBase64 !== "boolean") globalThis.sgcEncodeBase64 = false;
globalThis.GUID = GUID;
globalThis.sgcEncodeB64 = sgcEncodeB64;
globalThis.sgcDecodeB64 = sgcDecodeB64;
globalThis.sgcWebSocket = sgcWebSocket;
