// rollcall.js: a dependency-free browser client for the sgc Presence protocol
// (presence.esegece.com) as rollcall speaks it (docs/protocol.md). It is an
// ES module with no build step, typed with JSDoc:
//
//   import { Presence } from "/rollcall.js";
//   const p = new Presence("ws://localhost:8080/", { token: jwt });
//   p.on("publishmsg", (e) => console.log(e.channel, e.member.name, e.text));
//   await p.connect();
//   p.join("alice", "role=qa");
//   p.subscribe("lobby");
//   p.publish("hello", "lobby");
//
// The frame codec is in pure functions (encodeFrame, decodeFrame) that need no
// socket. Event listeners get one object; a listener that throws is reported
// as an "exception" event and never breaks the socket handler.

/** The WebSocket subprotocol. */
export const SUBPROTOCOL = "presence.esegece.com";
/** The prefix of a Base64-encoded value. */
export const B64_PREFIX = "sgc@b64:";

/** Method names, by what they are. */
export const Method = Object.freeze({
  session: "sgc@presence@session",
  newMember: "sgc@presence@member@new",
  removeMember: "sgc@presence@member@remove",
  newChannelMember: "sgc@presence@channel@member@new",
  removeChannelMember: "sgc@presence@channel@member@remove",
  publishMsg: "sgc@presence@publish@msg",
  getMembers: "sgc@presence@get@members",
  sendMembers: "sgc@presence@send@members",
  invitation: "sgc@presence@channel@invitation",
  invitationResponse: "sgc@presence@channel@invitation@response",
  errorMemberChannel: "sgc@presence@error@member@channel",
  errorPublishMsg: "sgc@presence@error@publish@msg",
  acknowledgment: "sgc@presence@acknowledgment",
  // The rollcall extension (docs/protocol.md): only a rollcall server
  // sends these, and only to a client that asked with hello.
  hello: "rollcall@hello",
  list: "rollcall@members",
  diff: "rollcall@diff",
  count: "rollcall@count",
  updateMember: "rollcall@member@update",
  updateChannelMember: "rollcall@channel@member@update",
  resume: "rollcall@resume",
});

/** The rollcall extensions this client knows, in the order it asks for them. */
export const EXTENSIONS = Object.freeze(["diffs", "updates", "counts", "resume"]);

/** The sgc error code of a resume token the server refused (the client then joins as a new member). */
export const RESUME_REFUSED = 51;

/** The code and text sent when an invitation is refused without a reason. */
export const INVITATION_DECLINED = Object.freeze({ code: 100, text: "Invitation declined." });

/**
 * @typedef {{id: string, name: string, info: string}} Member
 * @typedef {{code: number, text: string}} ErrorValue
 * @typedef {{
 *   jsonrpc?: string, method: string, id?: string,
 *   message?: {text: string}, channel?: {name: string}, member?: Partial<Member>,
 *   members?: Partial<Member>[], error?: ErrorValue,
 *   extensions?: string[], token?: string, resumed?: boolean, counts?: boolean,
 *   version?: number, from?: number, more?: boolean, count?: number,
 *   joined?: Partial<Member>[], left?: string[], updated?: Partial<Member>[]
 * }} Frame
 */

/** A frame from the server that is not the protocol: not JSON, not an object, bad Base64… */
export class FrameError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "FrameError";
  }
}

// Key order per method after "jsonrpc" and "method", as sgc (and the
// rollcall server) writes them; "id" always comes last.
/** @type {Record<string, string[]>} */
const KEY_ORDER = {
  [Method.session]: ["message"],
  [Method.newMember]: ["member"],
  [Method.removeMember]: ["member"],
  [Method.newChannelMember]: ["member", "channel", "counts"],
  [Method.removeChannelMember]: ["member", "channel"],
  [Method.publishMsg]: ["message", "channel", "member"],
  [Method.getMembers]: ["channel", "member"],
  [Method.sendMembers]: ["channel", "member", "members"],
  [Method.invitation]: ["channel", "member", "members"],
  [Method.invitationResponse]: ["channel", "member", "members", "error"],
  [Method.errorMemberChannel]: ["error", "message", "channel", "member"],
  [Method.errorPublishMsg]: ["error", "message", "channel", "member"],
  [Method.hello]: ["extensions", "token"],
  [Method.updateMember]: ["member"],
};
const DEFAULT_ORDER = ["message", "channel", "member", "members", "error"];

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Encodes a string as "sgc@b64:" + Base64 of its UTF-8 bytes. Empty strings
 * and strings already encoded are returned as they are.
 * @param {string} s
 * @returns {string}
 */
export function encodeBase64(s) {
  if (s === "" || s.startsWith(B64_PREFIX)) return s;
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 0x8000)));
  }
  return B64_PREFIX + btoa(bin);
}

/**
 * Decodes an "sgc@b64:" value (other strings are returned as they are). The
 * bytes are read as UTF-8, or as Latin-1 when they are not valid UTF-8 (what
 * a browser's btoa produces). Throws FrameError on bad Base64.
 * @param {string} s
 * @returns {string}
 */
export function decodeBase64(s) {
  if (!s.startsWith(B64_PREFIX)) return s;
  const raw = s.slice(B64_PREFIX.length);
  const unpadded = raw.replace(/=+$/, "");
  if (!B64_RE.test(raw) || (raw.length !== unpadded.length && raw.length % 4 !== 0) || unpadded.length % 4 === 1) {
    throw new FrameError(`bad Base64 value ${JSON.stringify(s.length > 40 ? s.slice(0, 40) + "…" : s)}`);
  }
  let bin;
  try {
    bin = atob(raw);
  } catch {
    throw new FrameError(`bad Base64 value ${JSON.stringify(s)}`);
  }
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bin; // Latin-1: each byte is one code point
  }
}

/**
 * Decodes every string value of v, recursively (objects and arrays).
 * @param {unknown} v
 * @returns {any}
 */
export function decodeValues(v) {
  if (typeof v === "string") return decodeBase64(v);
  if (Array.isArray(v)) return v.map(decodeValues);
  if (v !== null && typeof v === "object") {
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = decodeValues(x);
    return out;
  }
  return v;
}

/**
 * Parses one frame from the server and decodes every sgc@b64: value. Throws
 * FrameError when the text is not JSON, not an object, has no "jsonrpc":"2.0",
 * has no method, or holds bad Base64.
 * @param {string} text
 * @returns {Frame}
 */
export function decodeFrame(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new FrameError("frame is not JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new FrameError("frame is not a JSON object");
  }
  const f = decodeValues(v);
  if (f.jsonrpc !== "2.0") throw new FrameError('"jsonrpc" must be "2.0"');
  if (typeof f.method !== "string" || f.method === "") throw new FrameError('"method" is missing');
  if (f.id !== undefined && typeof f.id !== "string") throw new FrameError('"id" must be a string');
  return f;
}

/**
 * Returns the acknowledgment frame for id (never Base64-encoded).
 * @param {string} id
 * @returns {string}
 */
export function ackFrame(id) {
  return `{"jsonrpc":"2.0","method":${JSON.stringify(Method.acknowledgment)},"id":${JSON.stringify(id)}}`;
}

/**
 * Encodes a frame: "jsonrpc", "method", then the method's keys in sgc's
 * order, "id" last. Member objects always get all three keys. With
 * base64, every non-empty string except "jsonrpc" is written as sgc@b64:
 * (acknowledgments never are).
 * @param {Frame} obj
 * @param {{base64?: boolean}} [opts]
 * @returns {string}
 */
export function encodeFrame(obj, opts = {}) {
  if (obj.method === Method.acknowledgment) return ackFrame(obj.id ?? "");
  /** @param {string} s */
  const str = (s) => (opts.base64 ? encodeBase64(String(s ?? "")) : String(s ?? ""));
  /** @param {Partial<Member>|undefined} m */
  const member = (m) => ({ id: str(m?.id ?? ""), name: str(m?.name ?? ""), info: str(m?.info ?? "") });
  /** @type {Record<string, unknown>} */
  const out = { jsonrpc: "2.0", method: str(obj.method) };
  const o = /** @type {Record<string, any>} */ (obj);
  for (const k of KEY_ORDER[obj.method] ?? DEFAULT_ORDER) {
    if (o[k] === undefined) continue;
    switch (k) {
      case "message":
        out.message = { text: str(o.message.text) };
        break;
      case "channel":
        out.channel = { name: str(o.channel.name) };
        break;
      case "member":
        out.member = member(o.member);
        break;
      case "members":
        out.members = o.members.map(member);
        break;
      case "error":
        out.error = { code: Number(o.error.code) || 0, text: str(o.error.text) };
        break;
      case "extensions":
        out.extensions = o.extensions.map(str);
        break;
      case "token":
        if (o.token) out.token = str(o.token);
        break;
      case "counts":
        if (o.counts) out.counts = true;
        break;
    }
  }
  if (obj.id) out.id = str(obj.id);
  return JSON.stringify(out);
}

/** @param {unknown} m @returns {Member} */
function toMember(m) {
  const x = /** @type {Record<string, unknown>} */ (m && typeof m === "object" ? m : {});
  const s = (/** @type {unknown} */ v) => (typeof v === "string" ? v : "");
  return { id: s(x.id), name: s(x.name), info: s(x.info) };
}

/**
 * An invitation received: answer it once with accept() or refuse().
 */
export class Invitation {
  /**
   * @param {Presence} client
   * @param {string} channel
   * @param {Member} from the inviter
   */
  constructor(client, channel, from) {
    this.client = client;
    this.channel = channel;
    this.from = from;
    this.answered = false;
  }

  /** Subscribes to the channel and tells the inviter (error code 0). */
  accept() {
    if (this.answered) return false;
    this.answered = true;
    this.client.subscribe(this.channel);
    return this.client._respond(this, 0, "");
  }

  /**
   * Tells the inviter the invitation is declined. Code 0 means "accepted"
   * on the wire, so 0 is sent as 100 "Invitation declined.".
   * @param {number} [code]
   * @param {string} [text]
   */
  refuse(code = INVITATION_DECLINED.code, text = "") {
    if (this.answered) return false;
    this.answered = true;
    if (!code) code = INVITATION_DECLINED.code;
    if (!text && code === INVITATION_DECLINED.code) text = INVITATION_DECLINED.text;
    return this.client._respond(this, code, text);
  }
}

/**
 * @typedef {{
 *   token?: string,
 *   base64?: boolean,
 *   reconnect?: boolean,
 *   urls?: string[],
 *   minDelay?: number,
 *   maxDelay?: number,
 *   protocols?: string[],
 *   WebSocket?: any,
 *   setTimeout?: (fn: () => void, ms: number) => any,
 *   clearTimeout?: (t: any) => void,
 *   random?: () => number,
 *   perEvent?: boolean,
 *   extensions?: boolean,
 * }} PresenceOptions
 */

const OPEN = 1;

/**
 * A Presence client. Events (listeners get one object):
 * connect {}, session {id}, disconnect {code, reason, reconnecting},
 * join {member} (own join confirmed), newmember {member, self},
 * removemember {member}, newchannelmember {member, channel, self},
 * removechannelmember {member, channel, self}, publishmsg {text, channel, member},
 * getmembers {members, channel, member}, invitation {invitation, channel, from},
 * invitationresponse {channel, member, accepted, code, text},
 * error {code, text, channel, member, message?} (the server refused a request),
 * badframe {error, data} (a frame that is not the protocol), exception {error}
 * (a listener threw), message {frame} (every valid frame), reconnecting {attempt, delay}.
 *
 * Against a rollcall server the client asks for the rollcall extension
 * (docs/protocol.md) unless options.extensions is false: member changes
 * come as diffs (options.perEvent: one frame per change instead), folded
 * into the same newmember, removemember, newchannelmember and
 * removechannelmember events, for real changes only; channelMembers(name)
 * reads the member map it keeps. More events: hello {extensions, resumed},
 * count {channel, count} (subscribeCounts), memberupdate {member, self} and
 * channelmemberupdate {member, channel, self} (update), resumerefused {text}.
 */
export class Presence {
  /**
   * @param {string} url ws:// or wss:// URL of the server
   * @param {PresenceOptions} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.options = {
      reconnect: true,
      minDelay: 500,
      maxDelay: 30000,
      protocols: [SUBPROTOCOL],
      ...options,
    };
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
    /** @type {any} */
    this.socket = null;
    /** the session id of the current connection */
    this.session = "";
    /** @type {Member|null} the member as the server confirmed it */
    this.me = null;
    /** @type {{name: string, info: string, id?: string}|null} the member we want to be */
    this._wanted = null;
    /** @type {Set<string>} channels we want to be in (restored on reconnect) */
    this.channels = new Set();
    this._joinSent = false;
    /** @type {Set<string>} channels subscribed on the current connection */
    this._sentSubs = new Set();
    this._closed = true;
    this._attempt = 0;
    this._timer = null;
    /** @type {{channel: string, resolve: Function, reject: Function}[]} */
    this._pendingMembers = [];
    /** @type {{resolve: Function, reject: Function}|null} */
    this._pendingConnect = null;
    /** @type {string[]} the rollcall extensions the server accepted on this connection */
    this.extensions = [];
    /** @type {Map<string, {version: number, members: Map<string, Member>}>} member maps by channel ("": the server's) */
    this._rosters = new Map();
    /** @type {Map<string, {version: number, members: Member[]}>} list pages gathered by channel */
    this._pages = new Map();
    /** @type {Set<string>} channels subscribed for their count only */
    this._countsOnly = new Set();
    /** the last resume token the server gave; presented once on a reconnect */
    this._resumeToken = "";
  }

  /**
   * Adds a listener; returns a function that removes it.
   * @param {string} name
   * @param {(e: any) => void} fn
   */
  on(name, fn) {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /**
   * @param {string} name
   * @param {(e: any) => void} fn
   */
  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  /**
   * @param {string} name
   * @param {any} detail
   */
  _emit(name, detail) {
    for (const fn of [...(this._listeners.get(name) ?? [])]) {
      try {
        fn(detail);
      } catch (error) {
        if (name === "exception") continue;
        this._emit("exception", { error, event: name });
      }
    }
  }

  /** Whether the socket is open. */
  get connected() {
    return !!this.socket && this.socket.readyState === OPEN;
  }

  /**
   * Opens the connection (and keeps it open, reconnecting with backoff,
   * until close()). Resolves with the session id.
   * @returns {Promise<string>}
   */
  connect() {
    if (this.socket) return this.session ? Promise.resolve(this.session) : Promise.reject(new Error("already connecting"));
    this._closed = false;
    this._attempt = 0;
    return new Promise((resolve, reject) => {
      this._pendingConnect = { resolve, reject };
      this._open();
    });
  }

  _socketURL() {
    // options.urls: more addresses of the same service (other nodes of a
    // cluster); each reconnection attempt goes to the next in turn.
    const all = [this.url, ...(this.options.urls ?? [])];
    const url = all[(this._urlIndex ?? 0) % all.length];
    const t = this.options.token;
    if (!t) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t);
  }

  _open() {
    const WS = this.options.WebSocket ?? globalThis.WebSocket;
    let ws;
    try {
      ws = new WS(this._socketURL(), this.options.protocols);
    } catch (error) {
      this._emit("exception", { error });
      this._onClose(1006, String(error));
      return;
    }
    this.socket = ws;
    this.session = "";
    this._joinSent = false;
    this._sentSubs = new Set();
    ws.onopen = () => {
      if (this.socket !== ws) return;
      this._attempt = 0;
      this._emit("connect", {});
    };
    ws.onmessage = (/** @type {{data: unknown}} */ ev) => {
      if (this.socket !== ws) return;
      try {
        this._onData(ev.data);
      } catch (error) {
        this._emit("exception", { error });
      }
    };
    ws.onerror = () => {};
    ws.onclose = (/** @type {{code?: number, reason?: string}} */ ev) => {
      if (this.socket !== ws) return;
      this._onClose(ev?.code ?? 1006, ev?.reason ?? "");
    };
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  _onClose(code, reason) {
    this.socket = null;
    this.session = "";
    this._joinSent = false;
    this.me = null;
    this.extensions = [];
    // Member maps stay: the lists after a reconnect are told as their
    // differences from them. Half-gathered lists go.
    this._pages.clear();
    for (const p of this._pendingMembers.splice(0)) p.reject(new Error("disconnected"));
    const reconnecting = !this._closed && this.options.reconnect !== false;
    this._emit("disconnect", { code, reason, reconnecting });
    if (this._pendingConnect && !reconnecting) {
      this._pendingConnect.reject(new Error(`connection closed (${code}${reason ? " " + reason : ""})`));
      this._pendingConnect = null;
    }
    if (reconnecting) this._scheduleReconnect();
  }

  _scheduleReconnect() {
    const { minDelay = 500, maxDelay = 30000 } = this.options;
    const base = Math.min(maxDelay, minDelay * 2 ** this._attempt);
    const rnd = (this.options.random ?? Math.random)();
    const delay = Math.round(base / 2 + (base / 2) * rnd);
    this._attempt++;
    this._urlIndex = (this._urlIndex ?? 0) + 1;
    this._emit("reconnecting", { attempt: this._attempt, delay });
    const st = this.options.setTimeout ?? globalThis.setTimeout;
    this._timer = st(() => {
      this._timer = null;
      if (!this._closed) this._open();
    }, delay);
  }

  /** Closes the connection for good (no reconnect). */
  close(code = 1000, reason = "") {
    this._closed = true;
    // A close is a leave: nothing to resume, no member map to keep.
    this._resumeToken = "";
    this._rosters.clear();
    if (this._timer !== null) {
      (this.options.clearTimeout ?? globalThis.clearTimeout)(this._timer);
      this._timer = null;
    }
    const ws = this.socket;
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
      this._onClose(code, reason);
    }
  }

  /**
   * Sends a frame; false when the socket is not open.
   * @param {Frame} frame
   */
  send(frame) {
    if (!this.connected) return false;
    this.socket.send(encodeFrame(frame, { base64: !!this.options.base64 }));
    return true;
  }

  /** @returns {Member} the member this client speaks as */
  _self() {
    return {
      id: this.me?.id ?? (this._wanted?.id || this.session),
      name: this.me?.name ?? this._wanted?.name ?? "",
      info: this.me?.info ?? this._wanted?.info ?? "",
    };
  }

  /**
   * @param {unknown} data
   */
  _onData(data) {
    if (typeof data !== "string") {
      this._emit("badframe", { error: new FrameError("binary frame: the protocol uses text frames"), data });
      return;
    }
    let f;
    try {
      f = decodeFrame(data);
    } catch (error) {
      this._ackRaw(data);
      this._emit("badframe", { error, data });
      return;
    }
    // Acknowledge before acting on the frame.
    if (f.method !== Method.acknowledgment && f.id) this.socket?.send(ackFrame(f.id));
    this._emit("message", { frame: f });
    this._dispatch(f);
  }

  // _ackRaw acknowledges a malformed frame whose id can still be read, so
  // the server does not re-send it.
  /** @param {string} data */
  _ackRaw(data) {
    try {
      const v = JSON.parse(data);
      if (v && typeof v === "object" && typeof v.id === "string" && v.id) {
        const id = decodeBase64(v.id);
        const method = typeof v.method === "string" ? decodeBase64(v.method) : "";
        if (method !== Method.acknowledgment) this.socket?.send(ackFrame(id));
      }
    } catch {
      /* nothing readable */
    }
  }

  /** @param {Frame} f */
  _dispatch(f) {
    const channel = typeof f.channel?.name === "string" ? f.channel.name : "";
    const member = toMember(f.member);
    const text = typeof f.message?.text === "string" ? f.message.text : "";
    const members = Array.isArray(f.members) ? f.members.map(toMember) : [];
    switch (f.method) {
      case Method.session:
        this.session = text;
        // The rollcall extension first (an sgc server ignores it), so that
        // it applies from the join on.
        this._sendHello();
        this._emit("session", { id: text });
        if (this._pendingConnect) {
          this._pendingConnect.resolve(text);
          this._pendingConnect = null;
        }
        // A "session" listener may have joined already.
        if (this._wanted && !this._joinSent) this._sendJoin();
        break;
      case Method.newMember: {
        // Our own join is the first member@new after we sent it: no presence
        // event reaches a connection before it joined.
        const self = this.me === null && this._joinSent;
        if (self) this._joined(member);
        this._note("", member, true);
        this._emit("newmember", { member, self });
        break;
      }
      case Method.removeMember:
        this._note("", member, false);
        this._emit("removemember", { member });
        break;
      case Method.newChannelMember:
        this._note(channel, member, true);
        this._emit("newchannelmember", { member, channel, self: member.id === this.me?.id });
        break;
      case Method.removeChannelMember: {
        const self = member.id === this.me?.id;
        if (self) this._rosters.delete(channel);
        else this._note(channel, member, false);
        this._emit("removechannelmember", { member, channel, self });
        break;
      }
      case Method.hello:
        this.extensions = Array.isArray(f.extensions) ? f.extensions.filter((x) => typeof x === "string") : [];
        this._emit("hello", { extensions: [...this.extensions], resumed: f.resumed === true });
        break;
      case Method.resume:
        if (typeof f.token === "string") this._resumeToken = f.token;
        break;
      case Method.list:
        this._page(channel, f);
        break;
      case Method.diff:
        this._diff(channel, f);
        break;
      case Method.count:
        this._emit("count", { channel, count: typeof f.count === "number" ? f.count : 0 });
        break;
      case Method.updateMember: {
        const self = member.id === this.me?.id;
        if (self) {
          this.me = member;
          if (this._wanted) this._wanted = { ...this._wanted, name: member.name, info: member.info };
        }
        this._note("", member, true);
        this._emit("memberupdate", { member, self });
        break;
      }
      case Method.updateChannelMember:
        this._note(channel, member, true);
        this._emit("channelmemberupdate", { member, channel, self: member.id === this.me?.id });
        break;
      case Method.publishMsg:
        this._emit("publishmsg", { text, channel, member });
        break;
      case Method.sendMembers: {
        const i = this._pendingMembers.findIndex((p) => p.channel === channel);
        if (i >= 0) this._pendingMembers.splice(i, 1)[0].resolve(members);
        this._emit("getmembers", { members, channel, member });
        break;
      }
      case Method.invitation: {
        const invitation = new Invitation(this, channel, member);
        this._emit("invitation", { invitation, channel, from: member });
        break;
      }
      case Method.invitationResponse: {
        const code = typeof f.error?.code === "number" ? f.error.code : 0;
        const etext = typeof f.error?.text === "string" ? f.error.text : "";
        this._emit("invitationresponse", { channel, member, accepted: code === 0, code, text: etext });
        break;
      }
      case Method.errorMemberChannel:
      case Method.errorPublishMsg: {
        const code = typeof f.error?.code === "number" ? f.error.code : 0;
        const etext = typeof f.error?.text === "string" ? f.error.text : "";
        /** @type {Record<string, unknown>} */
        const detail = { code, text: etext, channel, member };
        if (f.message !== undefined || f.method === Method.errorPublishMsg) detail.message = text;
        if (code === RESUME_REFUSED) {
          // The old presence is gone (the grace passed, or it was taken
          // over): this connection joins as a new member, as it would
          // have without a token.
          this._emit("resumerefused", { text: etext });
          break;
        }
        if (code === 1 && !this.me && this._joinSent) {
          // error 1 on our join: another connection of the same identity holds it.
          this._joinSent = false;
        }
        if (detail.message === undefined && [3, 5, 30].includes(code)) {
          const i = this._pendingMembers.findIndex((p) => p.channel === channel);
          if (i >= 0) this._pendingMembers.splice(i, 1)[0].reject(Object.assign(new Error(etext), { code }));
        }
        this._emit("error", detail);
        break;
      }
      case Method.acknowledgment:
        break;
      default:
        this._emit("badframe", { error: new FrameError(`unknown method ${f.method}`), data: f });
    }
  }

  /** @param {Member} m */
  _joined(m) {
    this.me = m;
    this._emit("join", { member: m });
    // Restore (after a reconnect) or send (queued before the join) the
    // channels not yet subscribed on this connection.
    for (const ch of this.channels) if (!this._sentSubs.has(ch)) this._sendSubscribe(ch);
  }

  _sendJoin() {
    if (!this._wanted || !this.session) return;
    this._joinSent = this.send({ method: Method.newMember, member: this._self() });
  }

  /**
   * Joins as a member (sent now if connected, else on the next session;
   * re-sent after every reconnect). The member id is the session id unless
   * id is given (a server decides whether it accepts an id of the page's
   * choosing; rollcall takes any id no other member has, or, when it
   * authenticates, only the identity's).
   * @param {string} name
   * @param {string} [info]
   * @param {string} [id]
   */
  join(name, info = "", id = "") {
    this._wanted = id ? { name, info, id } : { name, info };
    if (this.me === null && this.session && !this._joinSent) this._sendJoin();
  }

  /** Leaves (stays connected); subscriptions are forgotten. */
  leave() {
    this._wanted = null;
    this.channels.clear();
    this._sentSubs.clear();
    this._countsOnly.clear();
    this._rosters.clear();
    this._resumeToken = "";
    const ok = this.send({ method: Method.removeMember, member: this._self() });
    this.me = null;
    this._joinSent = false;
    return ok;
  }

  /** @param {string} channel */
  _sendSubscribe(channel) {
    const counts = this._countsOnly.has(channel);
    const ok = this.send({ method: Method.newChannelMember, member: this._self(), channel: { name: channel }, counts });
    if (ok) this._sentSubs.add(channel);
    return ok;
  }

  /**
   * Subscribes to a channel. Before the join (or while disconnected) the
   * channel is remembered and subscribed once joined; it is restored after
   * every reconnect. Returns whether a frame was sent now.
   * @param {string} channel
   */
  subscribe(channel) {
    this.channels.add(channel);
    if (this.me === null && !this._joinSent) return false;
    return this._sendSubscribe(channel);
  }

  /**
   * Subscribes to a channel for its member count only: the member is in the
   * channel as with subscribe (others see it), but instead of the others'
   * member events a "count" event {channel, count} comes at once and then at
   * most a few times a second while the count changes. A server without
   * the rollcall extension subscribes normally (member events, no count).
   * @param {string} channel
   */
  subscribeCounts(channel) {
    this._countsOnly.add(channel);
    return this.subscribe(channel);
  }

  /** @param {string} channel */
  unsubscribe(channel) {
    this.channels.delete(channel);
    this._sentSubs.delete(channel);
    this._countsOnly.delete(channel);
    this._rosters.delete(channel);
    return this.send({ method: Method.removeChannelMember, member: this._self(), channel: { name: channel } });
  }

  /**
   * Publishes to a channel, or to everyone when channel is "".
   * @param {string} text
   * @param {string} [channel]
   */
  publish(text, channel = "") {
    return this.send({ method: Method.publishMsg, message: { text }, channel: { name: channel }, member: this._self() });
  }

  /**
   * Asks for the members of a channel ("" = every member). Resolves with the
   * list (also emitted as "getmembers"); rejects on a refusal or disconnect.
   * @param {string} [channel]
   * @returns {Promise<Member[]>}
   */
  getMembers(channel = "") {
    return new Promise((resolve, reject) => {
      if (!this.send({ method: Method.getMembers, channel: { name: channel }, member: this._self() })) {
        reject(new Error("not connected"));
        return;
      }
      this._pendingMembers.push({ channel, resolve, reject });
    });
  }

  /**
   * Changes this member's name and info (its id stays). Everyone who hears
   * of it gets a memberupdate / channelmemberupdate event (a diff client in
   * its member map), this client too once done; a server hook may refuse it
   * (an "error" event with code 49). Needs a rollcall server. After a
   * reconnect the client joins as the name and info the server confirmed
   * (as these, at once, when the server tells no updates).
   * @param {string} name
   * @param {string} [info]
   */
  update(name, info = "") {
    const ok = this.send({ method: Method.updateMember, member: { ...this._self(), name, info } });
    // A server that accepted "updates" confirms (our own memberupdate,
    // which sets _wanted) or refuses: a refused name is never rejoined as.
    const confirmed = ok && this.me !== null && this.extensions.includes("updates");
    if (this._wanted && !confirmed) this._wanted = { ...this._wanted, name, info };
    return ok;
  }

  /**
   * The members of channel ("": every member of the server) as this
   * client's member map has them, sorted by id, without asking the server;
   * null when it keeps no map of the channel. It keeps one for each channel
   * it subscribed to while the server sends it diffs (see perEvent and
   * extensions), and for "" when the server tells every join.
   * @param {string} [channel]
   * @returns {Member[]|null}
   */
  channelMembers(channel = "") {
    const r = this._rosters.get(channel);
    if (!r) return null;
    return [...r.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  _sendHello() {
    if (this.options.extensions === false) return;
    const extensions = this.options.perEvent ? EXTENSIONS.filter((x) => x !== "diffs") : [...EXTENSIONS];
    const token = this._resumeToken;
    this._resumeToken = ""; // good once
    this.send({ method: Method.hello, extensions, token });
  }

  /**
   * Keeps the member map of channel (if any) in step with a per-event frame.
   * @param {string} channel
   * @param {Member} m
   * @param {boolean} present
   */
  _note(channel, m, present) {
    const r = this._rosters.get(channel);
    if (!r) return;
    if (present) r.members.set(m.id, m);
    else r.members.delete(m.id);
  }

  /**
   * Gathers one rollcall@members page; the last makes the list the map.
   * @param {string} channel
   * @param {Frame} f
   */
  _page(channel, f) {
    const version = typeof f.version === "number" ? f.version : 0;
    let pg = this._pages.get(channel);
    if (!pg || pg.version !== version) this._pages.set(channel, (pg = { version, members: [] }));
    if (Array.isArray(f.members)) for (const m of f.members) pg.members.push(toMember(m));
    if (f.more === true) return;
    this._pages.delete(channel);
    const old = this._rosters.get(channel);
    const members = new Map(pg.members.map((m) => [m.id, m]));
    this._rosters.set(channel, { version, members });
    // The first list of a channel tells nothing new; after a reconnect,
    // its differences from the map kept are told.
    if (!old) return;
    const gone = [...old.members.values()].filter((m) => !members.has(m.id));
    gone.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const m of gone) this._emitChange(channel, "left", m);
    for (const m of pg.members) {
      const was = old.members.get(m.id);
      if (!was) this._emitChange(channel, "entered", m);
      else if (was.name !== m.name || was.info !== m.info) this._emitChange(channel, "updated", m);
    }
  }

  /**
   * Applies a rollcall@diff to the map of channel; a diff for a channel
   * without a map, or not newer than it, is skipped.
   * @param {string} channel
   * @param {Frame} f
   */
  _diff(channel, f) {
    const r = this._rosters.get(channel);
    const version = typeof f.version === "number" ? f.version : 0;
    if (!r || version <= r.version) return;
    r.version = version;
    for (const id of Array.isArray(f.left) ? f.left : []) {
      const m = r.members.get(id);
      if (!m) continue;
      r.members.delete(id);
      this._emitChange(channel, "left", m);
    }
    for (const list of [f.joined, f.updated]) {
      for (const x of Array.isArray(list) ? list : []) {
        const m = toMember(x);
        const was = r.members.get(m.id);
        r.members.set(m.id, m);
        if (!was) this._emitChange(channel, "entered", m);
        else if (was.name !== m.name || was.info !== m.info) this._emitChange(channel, "updated", m);
      }
    }
  }

  /**
   * Tells a member change of a map with the events a per-event frame has.
   * @param {string} channel
   * @param {"entered"|"left"|"updated"} kind
   * @param {Member} member
   */
  _emitChange(channel, kind, member) {
    const self = member.id === this.me?.id;
    if (channel === "") {
      const name = { entered: "newmember", left: "removemember", updated: "memberupdate" }[kind];
      this._emit(name, kind === "left" ? { member } : { member, self });
      return;
    }
    const name = { entered: "newchannelmember", left: "removechannelmember", updated: "channelmemberupdate" }[kind];
    this._emit(name, { member, channel, self });
  }

  /**
   * Invites members (ids) to a channel.
   * @param {string} channel
   * @param {string|string[]} memberIds
   */
  invite(channel, memberIds) {
    const ids = Array.isArray(memberIds) ? memberIds : [memberIds];
    return this.send({
      method: Method.invitation,
      channel: { name: channel },
      member: this._self(),
      members: ids.map((id) => ({ id, name: "", info: "" })),
    });
  }

  /**
   * @param {Invitation} inv
   * @param {number} code
   * @param {string} text
   */
  _respond(inv, code, text) {
    return this.send({
      method: Method.invitationResponse,
      channel: { name: inv.channel },
      member: this._self(),
      members: [{ id: inv.from.id, name: "", info: "" }],
      error: { code, text },
    });
  }
}

export default Presence;
