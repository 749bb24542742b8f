// sgc-presence.js: sgc's browser Presence API (sgcws_presence) over
// rollcall.js's Presence, for pages written for sgc's browser client.
//
// This file is not served by itself. The server serves it at any path
// ending in presence.esegece.com.js as part of ONE classic (non-module)
// script: rollcall.js with its export keywords removed, then this file, in
// one function scope (web/classic.go), so Presence, Method and SUBPROTOCOL
// below are rollcall.js's. It defines window.sgcws_presence (and
// window.Rollcall, as /rollcall.classic.js does).
//
//   var p = new sgcws_presence("ws://localhost:8080/");
//   //  or new sgcws_presence(url, prefix), (url, prefix, transports),
//   //  or new sgcws_presence({host, subprotocol, user, password, transport})
//   p.on("sgcsession", function (e) { p.newmember(e.id, "alice", "role=qa"); });
//   p.on("sgcpublishmsg", function (e) { console.log(e.channel.name, e.member.name, e.message.text); });
//   p.subscribe("lobby");
//   p.publish("hello", "lobby");
//
// What it does, as sgc's client does: it connects when constructed (over
// WebSocket only: the transports argument is accepted and ignored), with
// the subprotocol prefix + "presence.esegece.com"; with a user it opens
// host + "/sgc/auth/url/<user>/<password>" (as given: URL-escape them
// yourself); it does not reconnect; with window.sgcEncodeBase64 true it
// writes sgc@b64: values. Where it is better than sgc's client: values are
// JSON-escaped, sgc@b64: values are read as UTF-8, frames with an id are
// acknowledged, and a subscribe before newmember is held until the join
// is sent.
//
// Events (on(name, fn); fn gets one object): sgcsession {id},
// sgcnewmember {member}, sgcremovemember {member},
// sgcnewchannelmember {member, channel}, sgcremovechannelmember
// {member, channel}, sgcpublishmsg {member, channel, message},
// sgcgetmembers {members, member, channel}, sgcerrormemberchannel
// {error, member, channel} (every refusal, publish refusals included, as
// with sgc's client), sgcerrorpublishmsg {error, message, member, channel}
// (only for the error@publish@msg method, which rollcall does not send),
// and the socket's own open, close, error, message (the event of a text
// frame) and stream (of a binary frame). member is {id, name, info},
// channel {name}, message {text}, error {code, text}, as in the frames;
// channel and message also read as their string ("" + e.channel).

/* global Presence, Method, SUBPROTOCOL */

const SGC_AUTH_PATH = "/sgc/auth/url/";
const SGC_STATES = ["connecting", "open", "closing", "closed"];

/**
 * An object of a frame ({name} or {text}) that also reads as its string.
 * @param {string} key
 * @param {string} value
 */
function sgcValue(key, value) {
  const o = { [key]: value };
  Object.defineProperty(o, "toString", { value: () => value });
  return o;
}

/** @param {any} m */
function sgcMember(m) {
  const s = (/** @type {unknown} */ v) => (typeof v === "string" ? v : "");
  return { id: s(m?.id), name: s(m?.name), info: s(m?.info) };
}

/** @param {any} e */
function sgcError(e) {
  return { code: typeof e?.code === "number" ? e.code : 0, text: typeof e?.text === "string" ? e.text : "" };
}

class sgcws_presence {
  /**
   * @param {string|{host: string, subprotocol?: string, user?: string, password?: string, transport?: unknown}} url
   * @param {string} [prefix]
   * @param {unknown} [transports]
   */
  constructor(url, prefix, transports) {
    const o = url !== null && typeof url === "object" ? url : { host: url, subprotocol: prefix, transport: transports };
    let protocol = o.subprotocol ? String(o.subprotocol) : "";
    if (!protocol.toLowerCase().endsWith(SUBPROTOCOL)) protocol += SUBPROTOCOL;
    let target = String(o.host ?? "");
    if (o.user) target = target.replace(/\/+$/, "") + SGC_AUTH_PATH + o.user + "/" + (o.password ?? "");
    /** @type {Map<string, Function[]>} */
    this._listeners = new Map();
    const self = this;
    const Native = globalThis.WebSocket;
    // The socket's own events reach the page as they are.
    /** @param {string} u @param {string[]} protocols */
    function Observed(u, protocols) {
      const ws = new Native(u, protocols);
      ws.addEventListener("open", (/** @type {any} */ ev) => self._fire("open", ev));
      ws.addEventListener("close", (/** @type {any} */ ev) => self._fire("close", ev));
      ws.addEventListener("error", (/** @type {any} */ ev) => self._fire("error", ev));
      ws.addEventListener("message", (/** @type {any} */ ev) => self._fire(typeof ev.data === "string" ? "message" : "stream", ev));
      return ws;
    }
    const p = new Presence(target, { protocols: [protocol], reconnect: false, WebSocket: Observed });
    this._p = p;
    const channel = (/** @type {string} */ name) => sgcValue("name", name);
    p.on("session", (e) => this._fire("sgcsession", { id: e.id }));
    p.on("newmember", (e) => this._fire("sgcnewmember", { member: e.member }));
    p.on("removemember", (e) => this._fire("sgcremovemember", { member: e.member }));
    p.on("newchannelmember", (e) => this._fire("sgcnewchannelmember", { member: e.member, channel: channel(e.channel) }));
    p.on("removechannelmember", (e) => this._fire("sgcremovechannelmember", { member: e.member, channel: channel(e.channel) }));
    p.on("publishmsg", (e) =>
      this._fire("sgcpublishmsg", { member: e.member, channel: channel(e.channel), message: sgcValue("text", e.text) }),
    );
    p.on("getmembers", (e) => this._fire("sgcgetmembers", { members: e.members, member: e.member, channel: channel(e.channel) }));
    p.on("message", ({ frame }) => {
      const ch = channel(typeof frame.channel?.name === "string" ? frame.channel.name : "");
      if (frame.method === Method.errorMemberChannel) {
        this._fire("sgcerrormemberchannel", { error: sgcError(frame.error), member: sgcMember(frame.member), channel: ch });
      } else if (frame.method === Method.errorPublishMsg) {
        const text = typeof frame.message?.text === "string" ? frame.message.text : "";
        this._fire("sgcerrorpublishmsg", {
          error: sgcError(frame.error),
          message: sgcValue("text", text),
          member: sgcMember(frame.member),
          channel: ch,
        });
      }
    });
    p.on("exception", ({ error }) => console.error("rollcall: sgcws_presence:", error));
    p.connect().catch(() => {}); // a failed connection reaches the page as close
  }

  /**
   * Adds a listener for an event.
   * @param {string} name
   * @param {(e: any) => void} fn
   */
  on(name, fn) {
    const list = this._listeners.get(name) ?? [];
    list.push(fn);
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
        console.error(`rollcall: an sgcws_presence "${name}" listener threw:`, error);
      }
    }
  }

  _sync() {
    this._p.options.base64 = globalThis.sgcEncodeBase64 === true;
  }

  /**
   * Joins as a member. The id is the session id (from sgcsession) unless
   * the page passes another, which rollcall takes when no other member has
   * it (error 1 otherwise) on a server without authentication.
   * @param {string} id
   * @param {string} name
   * @param {string} [info]
   */
  newmember(id, name, info = "") {
    this._sync();
    const own = id === undefined || id === null || String(id) === this._p.session ? "" : String(id);
    this._p.join(String(name ?? ""), String(info ?? ""), own);
  }

  removemember() {
    this._sync();
    return this._p.leave();
  }

  /** @param {string} channel */
  subscribe(channel) {
    this._sync();
    return this._p.subscribe(String(channel ?? ""));
  }

  /** @param {string} channel */
  unsubscribe(channel) {
    this._sync();
    return this._p.unsubscribe(String(channel ?? ""));
  }

  /**
   * @param {string} text
   * @param {string} [channel] "" or none: everyone
   */
  publish(text, channel = "") {
    this._sync();
    return this._p.publish(String(text ?? ""), String(channel ?? ""));
  }

  /**
   * Asks for the members of a channel (none: every member); the answer is
   * the sgcgetmembers event, a refusal sgcerrormemberchannel.
   * @param {string} [channel]
   */
  getmembers(channel = "") {
    this._sync();
    this._p.getMembers(String(channel ?? "")).catch(() => {});
  }

  /**
   * Sends a raw text frame; false when the socket is not open.
   * @param {string} text
   */
  send(text) {
    if (!this._p.connected) return false;
    this._p.socket.send(text);
    return true;
  }

  /** Closes the connection. */
  close() {
    this._p.close();
  }

  /** "connecting", "open", "closing" or "closed". */
  state() {
    const ws = this._p.socket;
    return ws ? (SGC_STATES[ws.readyState] ?? "closed") : "closed";
  }
}

globalThis.sgcws_presence = sgcws_presence;
