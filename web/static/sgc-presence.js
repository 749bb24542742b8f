// sgc-presence.js: sgc's browser Presence API (sgcws_presence) over
// rollcall.js's Presence, for pages written for sgc's browser client.
//
// This file is not served by itself. The server serves it at any path
// ending in presence.esegece.com.js as part of ONE classic (non-module)
// script: rollcall.js with its export keywords removed, then sgc-base.js
// (sgc's base library: sgcWebSocket, GUID, sgcEncodeB64, …), then this
// file, in one function scope (web/classic.go), so Presence, Method,
// SUBPROTOCOL, encodeFrame and sgcWebSocket below are theirs. It defines
// window.sgcws_presence, the base library's globals and window.Rollcall.
//
//   var p = new sgcws_presence("ws://localhost:8080/");
//   //  or new sgcws_presence(url, prefix), (url, prefix, transports),
//   //  or new sgcws_presence({host, subprotocol, user, password, transport})
//   p.on("sgcsession", function (e) { p.newmember(e.id, "alice", "role=qa"); });
//   p.on("sgcnewmember", function (e) { if (e.member.id === myId) p.subscribe("lobby"); });
//   p.on("sgcpublishmsg", function (e) { console.log(e.channel.name, e.member.name, e.message.text); });
//   p.on("close", function (e) { if (!e.clean) setTimeout(function () { p.open(); }, 1000); });
//
// What it does, as sgc's client does: sgcws_presence is an sgcWebSocket
// (sgc-base.js: host, subprotocol, user, password, transport, websocket,
// open(), sendbin(), close(), state(), and the open, close {code, reason,
// clean}, error and stream events); it connects when constructed (over
// WebSocket only: the transports argument is accepted and ignored) with the
// subprotocol prefix + "presence.esegece.com"; with a user it opens
// host + "/sgc/auth/url/<user>/<password>" (joined as given; URL-escape
// them yourself); it does not reconnect by itself, and open() connects
// again (a new session: the page joins again from its sgcsession
// listener); with window.sgcEncodeBase64 true it writes sgc@b64: values.
// As with sgc's, text frames are read as presence events, so the base
// library's message event never fires on an sgcws_presence.
// send(method, member, channel, message) sends a frame built from them;
// send(text) with one argument holding a JSON object's text sends it as it
// is. Where it is better than sgc's client: values are JSON-escaped,
// sgc@b64: values are read and written as UTF-8, frames with an id are
// acknowledged, a subscribe before newmember is held until the join is
// sent, and a send while the socket is not open returns false instead of
// throwing.
//
// Events (on(name, fn); fn gets one object): sgcsession {id},
// sgcnewmember {member}, sgcremovemember {member},
// sgcnewchannelmember {member, channel}, sgcremovechannelmember
// {member, channel}, sgcpublishmsg {member, channel, message},
// sgcgetmembers {members, member, channel}, sgcerrormemberchannel
// {error, member, channel} (every refusal, publish refusals included, as
// with sgc's client), sgcerrorpublishmsg {error, message, member, channel}
// (only for the error@publish@msg method, which rollcall does not send),
// and the base library's open, close, error and stream. Each also has its
// name ("onsgcsession", …), as sgc's. member is {id, name, info}, channel
// {name}, message {text}, error {code, text}, as in the frames; channel and
// message also read as their string ("" + e.channel).

/* global Presence, Method, SUBPROTOCOL, encodeFrame, sgcWebSocket */

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

class sgcws_presence extends sgcWebSocket {
  /**
   * @param {string|{host?: string, subprotocol?: string, user?: string, password?: string, transport?: unknown}} [url]
   * @param {string} [prefix]
   * @param {unknown} [transports]
   */
  constructor(url, prefix, transports) {
    if (arguments.length === 0) {
      super();
      return;
    }
    const o = url !== null && typeof url === "object" ? { ...url } : { host: url, subprotocol: prefix, transport: transports };
    let protocol = o.subprotocol ? String(o.subprotocol) : "";
    if (!protocol.toLowerCase().endsWith(SUBPROTOCOL)) protocol += SUBPROTOCOL;
    o.subprotocol = protocol;
    super(o); // connects: see open()
  }

  /**
   * Opens a new connection, read by a new rollcall Presence: a new
   * session, nothing of the previous connection carried over.
   */
  open() {
    const self = this;
    const Native = globalThis.WebSocket;
    /** @param {string} u @param {string[]} protocols */
    function Watched(u, protocols) {
      return self._watch(new Native(u, protocols));
    }
    // extensions: false: sgc's client speaks sgc's protocol alone, one
    // frame per member change.
    const p = new Presence(this._url(), { protocols: this._protocols(), reconnect: false, WebSocket: Watched, extensions: false });
    this._p = p;
    const channel = (/** @type {string} */ name) => sgcValue("name", name);
    p.on("session", (e) => this._fire("sgcsession", { name: "onsgcsession", id: e.id }));
    p.on("newmember", (e) => this._fire("sgcnewmember", { name: "onsgcnewmember", member: e.member }));
    p.on("removemember", (e) => this._fire("sgcremovemember", { name: "onsgcremovemember", member: e.member }));
    p.on("newchannelmember", (e) =>
      this._fire("sgcnewchannelmember", { name: "onsgcnewchannelmember", member: e.member, channel: channel(e.channel) }),
    );
    p.on("removechannelmember", (e) =>
      this._fire("sgcremovechannelmember", { name: "onsgcremovechannelmember", member: e.member, channel: channel(e.channel) }),
    );
    p.on("publishmsg", (e) =>
      this._fire("sgcpublishmsg", {
        name: "onsgcpublishmsg",
        member: e.member,
        channel: channel(e.channel),
        message: sgcValue("text", e.text),
      }),
    );
    p.on("getmembers", (e) =>
      this._fire("sgcgetmembers", { name: "onsgcgetmembers", members: e.members, member: e.member, channel: channel(e.channel) }),
    );
    p.on("message", ({ frame }) => {
      const ch = channel(typeof frame.channel?.name === "string" ? frame.channel.name : "");
      if (frame.method === Method.errorMemberChannel) {
        this._fire("sgcerrormemberchannel", {
          name: "onsgcerrormemberchannel",
          error: sgcError(frame.error),
          member: sgcMember(frame.member),
          channel: ch,
        });
      } else if (frame.method === Method.errorPublishMsg) {
        const text = typeof frame.message?.text === "string" ? frame.message.text : "";
        this._fire("sgcerrorpublishmsg", {
          name: "onsgcerrorpublishmsg",
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
   * Text frames are the presence events' (rollcall's Presence reads them):
   * as with sgc's client, no message event.
   */
  _text() {}

  _sync() {
    this._p.options.base64 = globalThis.sgcEncodeBase64 === true;
  }

  /**
   * Joins as a member. The id is the session id (from sgcsession) unless
   * the page passes another, which rollcall takes when no other member has
   * it (error 1 otherwise) on a server without authentication, or with
   * authentication under --app-member-ids.
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
   * Sends a frame built from method, member {id, name, info}, channel
   * ({name} or a name) and message ({text} or a text), leaving out the
   * absent ones, as sgc's client does; with one argument holding a JSON
   * object's text, sends that text as it is. False when the socket is not
   * open.
   * @param {string} method
   * @param {{id?: string, name?: string, info?: string}} [member]
   * @param {{name?: string}|string} [channel]
   * @param {{text?: string}|string} [message]
   */
  send(method, member, channel, message) {
    const ws = this.websocket;
    if (!ws || ws.readyState !== 1) return false;
    const text = String(method ?? "");
    if (arguments.length === 1 && text.trimStart().startsWith("{")) {
      ws.send(text);
      return true;
    }
    /** @type {any} */
    const frame = { method: text };
    if (member !== undefined && member !== null) frame.member = member;
    if (channel !== undefined && channel !== null) frame.channel = typeof channel === "object" ? channel : { name: String(channel) };
    if (message !== undefined && message !== null) frame.message = typeof message === "object" ? message : { text: String(message) };
    ws.send(encodeFrame(frame, { base64: globalThis.sgcEncodeBase64 === true }));
    return true;
  }

  /** Closes the connection (close code 1000). */
  close() {
    this._p?.close();
  }
}

globalThis.sgcws_presence = sgcws_presence;
