// Unit test of the classic scripts the server generates, run by
// web/shim_test.go:
//
//	node --test sgc-shim.mjs   (with SGC_SCRIPT and CLASSIC_SCRIPT naming the files)
//
// Each script runs as a classic script (node:vm, not a module) in a context
// with a fake WebSocket, as a page would load it with <script src>.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const sgcSource = readFileSync(process.env.SGC_SCRIPT, "utf8");
const classicSource = readFileSync(process.env.CLASSIC_SCRIPT, "utf8");
const baseSource = readFileSync(process.env.SGC_BASE_SCRIPT, "utf8");

class FakeWebSocket extends EventTarget {
  static last = null;
  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    FakeWebSocket.last = this;
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(text);
  }
  close(code = 1000, reason = "", wasClean = true) {
    this.readyState = 3;
    this._fire(new CloseEvent("close", { code, reason, wasClean }), "onclose");
  }
  _fire(ev, prop) {
    this.dispatchEvent(ev);
    this[prop]?.(ev);
  }
  open() {
    this.readyState = 1;
    this._fire(new Event("open"), "onopen");
  }
  receive(frame) {
    const data = typeof frame === "string" ? frame : JSON.stringify({ jsonrpc: "2.0", ...frame });
    this._fire(new MessageEvent("message", { data }), "onmessage");
  }
  frames() {
    return this.sent.map((s) => JSON.parse(s));
  }
}

// CloseEvent is not in node 20's globals.
class CloseEvent extends Event {
  constructor(type, init) {
    super(type);
    this.code = init.code;
    this.reason = init.reason;
    this.wasClean = init.wasClean;
  }
}

function load(source) {
  const errors = [];
  const ctx = vm.createContext({
    WebSocket: FakeWebSocket,
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    setTimeout,
    clearTimeout,
    console: { ...console, error: (...a) => errors.push(a.join(" ")) },
  });
  new vm.Script(source, { filename: "classic.js" }).runInContext(ctx);
  return { ctx, errors };
}

const member = (id, name = "", info = "") => ({ id, name, info });
const SESSION = "0123456789ABCDEF0123456789ABCDEF";

test("rollcall.classic.js defines window.Rollcall with every export", () => {
  const { ctx } = load(classicSource);
  assert.equal(typeof ctx.Rollcall.Presence, "function");
  assert.equal(ctx.Rollcall.SUBPROTOCOL, "presence.esegece.com");
  assert.equal(ctx.Rollcall.decodeFrame('{"jsonrpc":"2.0","method":"x","message":{"text":"sgc@b64:4piD"}}').message.text, "☃");
  assert.equal(ctx.sgcws_presence, undefined);
  assert.ok(Object.isFrozen(ctx.Rollcall));
});

test("constructor forms: url, prefix, object with credentials", () => {
  const { ctx } = load(sgcSource);
  assert.equal(typeof ctx.Rollcall.Presence, "function");
  new ctx.sgcws_presence("ws://h:1/");
  assert.equal(FakeWebSocket.last.url, "ws://h:1/");
  assert.deepEqual([...FakeWebSocket.last.protocols], ["presence.esegece.com"]);
  new ctx.sgcws_presence("ws://h:1/", "app.", ["websocket", "sse"]);
  assert.deepEqual([...FakeWebSocket.last.protocols], ["app.presence.esegece.com"]);
  // host and path joined as given, as sgc's base library does (the server
  // takes the doubled slash).
  new ctx.sgcws_presence({ host: "ws://h:1/", user: "bob%2Fops", password: "p%20w" });
  assert.equal(FakeWebSocket.last.url, "ws://h:1//sgc/auth/url/bob%2Fops/p%20w");
  new ctx.sgcws_presence({ host: "wss://h", subprotocol: "presence.esegece.com", user: "u", password: "p" });
  assert.equal(FakeWebSocket.last.url, "wss://h/sgc/auth/url/u/p");
  assert.deepEqual([...FakeWebSocket.last.protocols], ["presence.esegece.com"]);
});

test("events and methods as sgc's browser client has them", () => {
  const { ctx, errors } = load(sgcSource);
  const p = new ctx.sgcws_presence("ws://h:1/");
  const ws = FakeWebSocket.last;
  const seen = [];
  for (const name of [
    "open", "close", "message", "sgcsession", "sgcnewmember", "sgcremovemember", "sgcnewchannelmember",
    "sgcremovechannelmember", "sgcpublishmsg", "sgcgetmembers", "sgcerrormemberchannel", "sgcerrorpublishmsg",
  ]) {
    p.on(name, (e) => seen.push([name, e]));
  }
  const last = (name) => [...seen].reverse().find(([n]) => n === name)?.[1];
  p.on("sgcsession", (e) => p.newmember(e.id, "alice", "role=qa"));

  assert.equal(p.state(), "connecting");
  ws.open();
  assert.equal(p.state(), "open");
  assert.ok(last("open"));
  ws.receive({ method: "sgc@presence@session", message: { text: SESSION } });
  assert.equal(last("sgcsession").id, SESSION);
  assert.equal(last("sgcsession").name, "onsgcsession");
  // text frames are presence events: no message event, as with sgc's client.
  assert.equal(last("message"), undefined);
  assert.deepEqual(ws.frames().at(-1), {
    jsonrpc: "2.0", method: "sgc@presence@member@new", member: member(SESSION, "alice", "role=qa"),
  });

  // one join only, sent from the sgcsession listener; a subscribe follows it.
  p.subscribe("lobby");
  assert.deepEqual(ws.frames().map((f) => f.method), ["sgc@presence@member@new", "sgc@presence@channel@member@new"]);
  assert.deepEqual(ws.frames().at(-1).channel, { name: "lobby" });
  ws.receive({ method: "sgc@presence@member@new", member: member(SESSION, "alice", "role=qa") });
  assert.deepEqual({ ...last("sgcnewmember").member }, member(SESSION, "alice", "role=qa"));

  ws.receive({ method: "sgc@presence@channel@member@new", member: member("B", "bob"), channel: { name: "lobby" } });
  const cm = last("sgcnewchannelmember");
  assert.equal(cm.member.name, "bob");
  assert.equal(cm.channel.name, "lobby");
  assert.equal("" + cm.channel, "lobby");
  assert.deepEqual(JSON.parse(JSON.stringify(cm.channel)), { name: "lobby" });

  p.publish('say "hi"\n', "lobby");
  assert.deepEqual(ws.frames().at(-1).message, { text: 'say "hi"\n' });
  assert.deepEqual(ws.frames().at(-1).channel, { name: "lobby" });
  p.publish("all");
  assert.deepEqual(ws.frames().at(-1).channel, { name: "" });
  ws.receive({ method: "sgc@presence@publish@msg", message: { text: "sgc@b64:4piD" }, channel: { name: "lobby" }, member: member("B", "bob") });
  const pm = last("sgcpublishmsg");
  assert.equal(pm.message.text, "☃");
  assert.equal(String(pm.message), "☃");
  assert.equal(pm.channel.name, "lobby");
  assert.equal(pm.member.id, "B");

  p.getmembers("lobby");
  assert.equal(ws.frames().at(-1).method, "sgc@presence@get@members");
  ws.receive({ method: "sgc@presence@send@members", channel: { name: "lobby" }, member: member(SESSION, "alice"), members: [member(SESSION, "alice"), member("B", "bob")] });
  assert.deepEqual([...last("sgcgetmembers").members.map((m) => m.name)], ["alice", "bob"]);
  assert.equal(last("sgcgetmembers").channel.name, "lobby");

  // Every error@member@channel, a publish refusal too, is the member-channel
  // error event (as with sgc's client); error@publish@msg is the other one.
  ws.receive({ method: "sgc@presence@error@member@channel", error: { code: 12, text: "Subscription not exists." }, message: { text: "x" }, channel: { name: "side" }, member: member(SESSION, "alice") });
  assert.deepEqual({ ...last("sgcerrormemberchannel").error }, { code: 12, text: "Subscription not exists." });
  assert.equal(last("sgcerrormemberchannel").channel.name, "side");
  assert.equal(last("sgcerrorpublishmsg"), undefined);
  ws.receive({ method: "sgc@presence@error@publish@msg", error: { code: 20, text: "no" }, message: { text: "x" }, channel: { name: "side" }, member: member(SESSION, "alice") });
  assert.equal(last("sgcerrorpublishmsg").message.text, "x");
  assert.equal(last("sgcerrorpublishmsg").error.code, 20);

  ws.receive({ method: "sgc@presence@channel@member@remove", member: member("B", "bob"), channel: { name: "lobby" } });
  assert.equal(last("sgcremovechannelmember").channel.name, "lobby");
  ws.receive({ method: "sgc@presence@member@remove", member: member("B", "bob") });
  assert.equal(last("sgcremovemember").member.id, "B");

  // window.sgcEncodeBase64 switches Base64 on for what is sent next.
  ctx.sgcEncodeBase64 = true;
  p.publish("hé", "lobby");
  const f = JSON.parse(ws.sent.at(-1));
  assert.ok(f.message.text.startsWith("sgc@b64:"));
  assert.equal(ctx.Rollcall.decodeBase64(f.message.text), "hé");
  ctx.sgcEncodeBase64 = false;

  // frames with an id are acknowledged.
  ws.receive({ method: "sgc@presence@publish@msg", message: { text: "m" }, channel: { name: "" }, member: member("B"), id: "ID1" });
  assert.deepEqual(ws.frames().at(-1), { jsonrpc: "2.0", method: "sgc@presence@acknowledgment", id: "ID1" });

  assert.equal(p.send('{"jsonrpc":"2.0","method":"sgc@presence@get@members","channel":{"name":""}}'), true);
  p.removemember();
  assert.equal(ws.frames().at(-1).method, "sgc@presence@member@remove");
  // send(method, member, channel, message): a frame from its parts.
  assert.equal(p.send("sgc@presence@get@members", member(SESSION, "alice"), { name: "lobby" }), true);
  assert.deepEqual(ws.frames().at(-1), {
    jsonrpc: "2.0", method: "sgc@presence@get@members", member: member(SESSION, "alice"), channel: { name: "lobby" },
  });
  p.send("sgc@presence@publish@msg", member(SESSION), "lobby", 'a "quoted" text');
  assert.deepEqual(ws.frames().at(-1).message, { text: 'a "quoted" text' });
  p.close();
  assert.equal(p.state(), "closed");
  assert.deepEqual({ ...last("close") }, { name: "onclose", message: "", code: 1000, reason: "", clean: true });
  assert.equal(p.send("sgc@presence@get@members"), false);
  assert.deepEqual(errors, []);
});

test("open() connects again after the server went away: a new socket, a new session", () => {
  const { ctx, errors } = load(sgcSource);
  const p = new ctx.sgcws_presence({ host: "ws://h:1", user: "u", password: "p" });
  assert.ok(p instanceof ctx.sgcWebSocket);
  assert.equal(p.host, "ws://h:1");
  assert.equal(p.subprotocol, "presence.esegece.com");
  assert.equal(p.user, "u");
  const first = FakeWebSocket.last;
  assert.equal(p.websocket, first);
  const closes = [];
  let sessions = 0;
  p.on("close", (e) => closes.push(e));
  p.on("sgcsession", (e) => {
    sessions++;
    p.newmember(e.id, "ann");
  });
  first.open();
  first.receive({ method: "sgc@presence@session", message: { text: SESSION } });
  first.close(1006, "", false); // the server restarted
  assert.equal(closes.at(-1).clean, false);
  assert.equal(closes.at(-1).code, 1006);
  p.open();
  const second = FakeWebSocket.last;
  assert.notEqual(second, first);
  assert.equal(p.websocket, second);
  assert.equal(second.url, "ws://h:1/sgc/auth/url/u/p");
  assert.equal(p.state(), "connecting");
  second.open();
  const S2 = "FEDCBA9876543210FEDCBA9876543210";
  second.receive({ method: "sgc@presence@session", message: { text: S2 } });
  assert.equal(sessions, 2);
  assert.deepEqual(second.frames().at(-1), { jsonrpc: "2.0", method: "sgc@presence@member@new", member: member(S2, "ann") });
  p.subscribe("lobby");
  assert.equal(second.frames().at(-1).method, "sgc@presence@channel@member@new");
  assert.deepEqual(errors, []);
});

test("sgcWebSockets.js: sgc's base library", () => {
  const { ctx, errors } = load(baseSource);
  assert.equal(ctx.sgcws_presence, undefined);
  assert.match(ctx.GUID(), /^[0-9a-f]{32}$/);
  assert.notEqual(ctx.GUID(), ctx.GUID());
  assert.equal(ctx.sgcEncodeBase64, false);
  assert.equal(ctx.sgcEncodeB64("hé"), "hé");
  ctx.sgcEncodeBase64 = true;
  assert.equal(ctx.sgcEncodeB64("hé"), "sgc@b64:aMOp");
  assert.equal(ctx.sgcEncodeB64(""), "");
  ctx.sgcEncodeBase64 = false;
  assert.equal(ctx.sgcDecodeB64("sgc@b64:aMOp"), "hé");
  assert.equal(ctx.sgcDecodeB64("plain"), "plain");
  const obj = { a: 1 };
  assert.equal(ctx.sgcDecodeB64(obj), obj);

  const s = new ctx.sgcWebSocket("ws://h:1/chat", "chat.example");
  const ws = FakeWebSocket.last;
  assert.equal(s.websocket, ws);
  assert.equal(ws.url, "ws://h:1/chat");
  assert.deepEqual([...ws.protocols], ["chat.example"]);
  assert.equal(s.host, "ws://h:1/chat");
  assert.equal(s.subprotocol, "chat.example");
  assert.deepEqual([...s.transport], ["websocket", "sse"]);
  const seen = [];
  for (const name of ["open", "message", "stream", "close", "error"]) s.on(name, (e) => seen.push([name, e]));
  assert.equal(s.state(), "connecting");
  ws.open();
  assert.equal(s.state(), "open");
  ws.receive("hello");
  ws._fire(new MessageEvent("message", { data: new Uint8Array([1, 2]) }), "onmessage");
  s.send("raw text");
  s.sendbin(new Uint8Array([3]));
  assert.equal(ws.sent[0], "raw text");
  assert.ok(ws.sent[1] instanceof Uint8Array);
  s.close();
  assert.equal(s.state(), "closed");
  const plainSeen = seen.map(([n, e]) => [n, { ...e }]);
  assert.deepEqual(plainSeen[0], ["open", { name: "onopen", message: "" }]);
  assert.deepEqual(plainSeen[1], ["message", { name: "onmessage", message: "hello" }]);
  assert.equal(plainSeen[2][0], "stream");
  assert.deepEqual([...plainSeen[2][1].stream], [1, 2]);
  assert.deepEqual(plainSeen[3], ["close", { name: "onclose", message: "", code: 1000, reason: "", clean: true }]);

  // one listener added twice runs once; open() makes a new socket.
  let opens = 0;
  const onOpen = () => opens++;
  s.on("open", onOpen);
  s.on("open", onOpen);
  s.open();
  assert.notEqual(FakeWebSocket.last, ws);
  FakeWebSocket.last.open();
  assert.equal(opens, 1);

  // with a user: host + the credentials path, as given.
  new ctx.sgcWebSocket({ host: "ws://h:1/", user: "u", password: "p" });
  assert.equal(FakeWebSocket.last.url, "ws://h:1//sgc/auth/url/u/p");
  assert.deepEqual([...FakeWebSocket.last.protocols], []);
  assert.deepEqual(errors, []);
});

test("a throwing listener is reported and the others still run", () => {
  const { ctx, errors } = load(sgcSource);
  const p = new ctx.sgcws_presence("ws://h:1/");
  const ws = FakeWebSocket.last;
  let ran = false;
  p.on("sgcsession", () => {
    throw new Error("boom");
  });
  p.on("sgcsession", () => (ran = true));
  ws.open();
  ws.receive({ method: "sgc@presence@session", message: { text: SESSION } });
  assert.ok(ran);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /rollcall: an sgcws_presence "sgcsession" listener threw/);
});
