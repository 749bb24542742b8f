// Unit tests for rollcall.js: node --test web/static/ (Node 20, no packages).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Presence,
  Method,
  FrameError,
  encodeFrame,
  decodeFrame,
  encodeBase64,
  decodeBase64,
  ackFrame,
} from "./rollcall.js";

const SESSION = "6E0F9A1C2B3D4E5F60718293A4B5C6D7";
const b64 = (s) => "sgc@b64:" + Buffer.from(s, "utf8").toString("base64");

// FakeSocket records what the client sends and lets a test deliver frames.
class FakeSocket {
  static instances = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.sent = [];
    this.readyState = 0;
    this.closed = null;
    FakeSocket.instances.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(text);
  }
  close(code, reason) {
    this.readyState = 3;
    this.closed = { code, reason };
  }
  // test side
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame) {
    this.onmessage({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose({ code, reason: "" });
  }
  frames() {
    return this.sent.map((s) => JSON.parse(s));
  }
}

// fakeTimers runs scheduled callbacks when the test says so.
function fakeTimers() {
  const pending = [];
  return {
    pending,
    setTimeout: (fn, ms) => {
      const t = { fn, ms };
      pending.push(t);
      return t;
    },
    clearTimeout: (t) => {
      const i = pending.indexOf(t);
      if (i >= 0) pending.splice(i, 1);
    },
    runNext() {
      const t = pending.shift();
      assert.ok(t, "a timer is scheduled");
      t.fn();
      return t.ms;
    },
  };
}

function newClient(opts = {}) {
  FakeSocket.instances = [];
  const timers = fakeTimers();
  const p = new Presence("ws://host/", {
    WebSocket: FakeSocket,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    random: () => 1,
    minDelay: 100,
    maxDelay: 1000,
    extensions: false, // the sgc protocol alone; the extension's tests turn it on
    ...opts,
  });
  return { p, timers, sock: () => FakeSocket.instances.at(-1) };
}

// connected returns a client with an open socket and a session.
async function connected(opts) {
  const c = newClient(opts);
  const done = c.p.connect();
  c.sock().open();
  c.sock().deliver({ jsonrpc: "2.0", method: Method.session, message: { text: SESSION } });
  assert.equal(await done, SESSION);
  return c;
}

function record(p, ...names) {
  const got = [];
  for (const n of names) p.on(n, (e) => got.push([n, e]));
  return got;
}

test("encodeFrame writes sgc's key order, full members and id last", () => {
  const me = { id: SESSION, name: "alice", info: "" };
  assert.equal(
    encodeFrame({ method: Method.publishMsg, member: me, channel: { name: "room" }, message: { text: "hi" }, id: "X1" }),
    `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"hi"},"channel":{"name":"room"},"member":{"id":"${SESSION}","name":"alice","info":""},"id":"X1"}`,
  );
  assert.equal(
    encodeFrame({ channel: { name: "c" }, method: Method.newChannelMember, member: { id: "A" } }),
    '{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"A","name":"","info":""},"channel":{"name":"c"}}',
  );
  assert.equal(
    encodeFrame({
      method: Method.invitationResponse,
      error: { code: 0, text: "" },
      members: [{ id: "B" }],
      member: { id: "A" },
      channel: { name: "c" },
    }),
    '{"jsonrpc":"2.0","method":"sgc@presence@channel@invitation@response","channel":{"name":"c"},"member":{"id":"A","name":"","info":""},"members":[{"id":"B","name":"","info":""}],"error":{"code":0,"text":""}}',
  );
  assert.equal(
    encodeFrame({ method: Method.getMembers, member: { id: "A" }, channel: { name: "" } }),
    '{"jsonrpc":"2.0","method":"sgc@presence@get@members","channel":{"name":""},"member":{"id":"A","name":"","info":""}}',
  );
});

test("encodeFrame with base64 encodes every non-empty string but jsonrpc, never acks", () => {
  const f = JSON.parse(
    encodeFrame(
      {
        method: Method.invitation,
        channel: { name: "salle é" },
        member: { id: "A", name: "Zoë ☃", info: "" },
        members: [{ id: "B" }, { id: "sgc@b64:Qw==" }],
        id: "7",
      },
      { base64: true },
    ),
  );
  assert.equal(f.jsonrpc, "2.0");
  assert.equal(f.method, b64(Method.invitation));
  assert.equal(f.channel.name, b64("salle é"));
  assert.equal(f.member.name, b64("Zoë ☃"));
  assert.equal(f.member.info, "");
  assert.deepEqual(f.members, [
    { id: b64("B"), name: "", info: "" },
    { id: "sgc@b64:Qw==", name: "", info: "" }, // never encoded twice
  ]);
  assert.equal(f.id, b64("7"));
  const err = JSON.parse(encodeFrame({ method: Method.invitationResponse, error: { code: 100, text: "no" } }, { base64: true }));
  assert.equal(err.error.code, 100);
  assert.equal(encodeFrame({ method: Method.acknowledgment, id: "X" }, { base64: true }), ackFrame("X"));
  assert.equal(ackFrame("X"), '{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"X"}');
});

test("Base64 round trip with non-ASCII, Latin-1 fallback, unpadded", () => {
  for (const s of ["room-7", "é ☃ 😀", "a\r\nb", "日本語"]) {
    assert.equal(encodeBase64(s), b64(s));
    assert.equal(decodeBase64(encodeBase64(s)), s);
  }
  assert.equal(decodeBase64("sgc@b64:cm9vbS03"), "room-7");
  assert.equal(decodeBase64("sgc@b64:" + btoa("caf\xe9")), "café"); // btoa's Latin-1 bytes
  assert.equal(decodeBase64("sgc@b64:cm9vbQ"), "room"); // unpadded
  assert.equal(decodeBase64(""), "");
  assert.equal(decodeBase64("plain"), "plain");
  for (const bad of ["sgc@b64:!!!", "sgc@b64:cm9vb", "sgc@b64:cm9=vbQ", "sgc@b64:cm9vbQ="]) {
    assert.throws(() => decodeBase64(bad), FrameError, bad);
  }
});

test("decodeFrame decodes every value, members[] included", () => {
  const f = decodeFrame(
    JSON.stringify({
      jsonrpc: b64("2.0"),
      method: b64(Method.sendMembers),
      channel: { name: b64("salle é") },
      member: { id: b64("A"), name: "plain", info: "" },
      members: [
        { id: b64("B"), name: b64("Zoë"), info: b64("role=qa") },
        { id: "C", name: "", info: "" },
      ],
      id: b64("42"),
    }),
  );
  assert.deepEqual(f, {
    jsonrpc: "2.0",
    method: Method.sendMembers,
    channel: { name: "salle é" },
    member: { id: "A", name: "plain", info: "" },
    members: [
      { id: "B", name: "Zoë", info: "role=qa" },
      { id: "C", name: "", info: "" },
    ],
    id: "42",
  });
  const e = decodeFrame('{"jsonrpc":"2.0","method":"sgc@presence@error@member@channel","error":{"code":11,"text":"sgc@b64:U3Vi"}}');
  assert.deepEqual(e.error, { code: 11, text: "Sub" });
});

test("decodeFrame refuses what is not the protocol", () => {
  for (const [text, why] of [
    ["not json", /not JSON/],
    ["[1,2]", /not a JSON object/],
    ['"str"', /not a JSON object/],
    ["null", /not a JSON object/],
    ['{"jsonrpc":"1.0","method":"x"}', /jsonrpc/],
    ['{"method":"x"}', /jsonrpc/],
    ['{"jsonrpc":"2.0"}', /method/],
    ['{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"sgc@b64:%%"}}', /Base64/],
  ]) {
    assert.throws(() => decodeFrame(text), (err) => err instanceof FrameError && why.test(err.message), text);
  }
});

test("malformed server frames become badframe events and never throw", async () => {
  const { p, sock } = await connected();
  const got = record(p, "badframe", "exception", "publishmsg");
  for (const data of ["not json", "[]", '{"jsonrpc":"1.0","method":"x"}', '{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"sgc@b64:***"}}', new Uint8Array([1, 2])]) {
    assert.doesNotThrow(() => sock().onmessage({ data }));
  }
  assert.deepEqual(
    got.map(([n]) => n),
    ["badframe", "badframe", "badframe", "badframe", "badframe"],
  );
  assert.ok(got.every(([, e]) => e.error instanceof FrameError));
  // A listener that throws is reported, not thrown.
  p.on("publishmsg", () => {
    throw new Error("boom");
  });
  assert.doesNotThrow(() => sock().deliver({ jsonrpc: "2.0", method: Method.publishMsg, message: { text: "x" }, channel: { name: "" }, member: {} }));
  assert.equal(got.at(-1)[0], "exception");
  assert.equal(got.at(-1)[1].error.message, "boom");
});

test("every frame with an id is acknowledged before it is processed", async () => {
  const { p, sock } = await connected();
  const s = sock();
  let sentWhenHandled = -1;
  p.on("publishmsg", () => (sentWhenHandled = s.sent.length));
  s.deliver({ jsonrpc: "2.0", method: Method.publishMsg, message: { text: "hi" }, channel: { name: "" }, member: {}, id: b64("ID1") });
  assert.equal(sentWhenHandled, 1);
  assert.equal(s.sent[0], ackFrame("ID1")); // decoded, never encoded
  s.deliver({ jsonrpc: "2.0", method: Method.acknowledgment, id: "ID2" }); // acks are not acked
  s.deliver({ jsonrpc: "2.0", method: Method.removeMember, member: {}, id: "" }); // empty id: no ack
  assert.equal(s.sent.length, 1);
  s.deliver('{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"sgc@b64:*"},"id":"ID3"}');
  assert.equal(s.sent[1], ackFrame("ID3")); // a bad frame is still acked so it is not re-sent
});

test("connect appends the token, asks for the subprotocol and joins", async () => {
  const { p, sock } = await connected({ token: "a b&c" });
  assert.equal(sock().url, "ws://host/?token=a%20b%26c");
  assert.deepEqual(sock().protocols, ["presence.esegece.com"]);
  const got = record(p, "join", "newmember");
  p.join("alice", "role=qa");
  assert.deepEqual(sock().frames()[0], {
    jsonrpc: "2.0",
    method: Method.newMember,
    member: { id: SESSION, name: "alice", info: "role=qa" },
  });
  sock().deliver({ jsonrpc: "2.0", method: Method.newMember, member: { id: SESSION, name: "alice", info: "role=qa" } });
  assert.deepEqual(p.me, { id: SESSION, name: "alice", info: "role=qa" });
  assert.deepEqual(got.map(([n]) => n), ["join", "newmember"]);
  assert.equal(got[1][1].self, true);
});

test("subscribe, unsubscribe, publish, getMembers and invite frames", async () => {
  const { p, sock } = await connected({ base64: true });
  p.join("alice");
  p.subscribe("room");
  p.publish("hé", "room");
  p.publish("all");
  const members = p.getMembers("room");
  p.invite("room", "BOB");
  p.unsubscribe("room");
  const f = sock().frames().map((x) => decodeFrame(JSON.stringify(x)));
  const me = { id: SESSION, name: "alice", info: "" };
  assert.deepEqual(f.slice(1), [
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "room" } },
    { jsonrpc: "2.0", method: Method.publishMsg, message: { text: "hé" }, channel: { name: "room" }, member: me },
    { jsonrpc: "2.0", method: Method.publishMsg, message: { text: "all" }, channel: { name: "" }, member: me },
    { jsonrpc: "2.0", method: Method.getMembers, channel: { name: "room" }, member: me },
    { jsonrpc: "2.0", method: Method.invitation, channel: { name: "room" }, member: me, members: [{ id: "BOB", name: "", info: "" }] },
    { jsonrpc: "2.0", method: Method.removeChannelMember, member: me, channel: { name: "room" } },
  ]);
  assert.ok(sock().sent[1].includes(b64("room")));
  sock().deliver({
    jsonrpc: "2.0",
    method: b64(Method.sendMembers),
    channel: { name: b64("room") },
    member: me,
    members: [{ id: b64("B"), name: b64("bob"), info: "" }],
  });
  assert.deepEqual(await members, [{ id: "B", name: "bob", info: "" }]);
  const refused = p.getMembers("nope");
  sock().deliver({ jsonrpc: "2.0", method: Method.errorMemberChannel, error: { code: 5, text: "Channel not exists" }, channel: { name: "nope" }, member: me });
  await assert.rejects(refused, /Channel not exists/);
});

test("events carry decoded members, channels and texts", async () => {
  const { p, sock } = await connected();
  const got = record(p, "newmember", "removemember", "newchannelmember", "removechannelmember", "publishmsg", "error", "invitationresponse");
  const bob = { id: "B", name: "bob", info: "" };
  const s = sock();
  s.deliver({ jsonrpc: "2.0", method: Method.newMember, member: bob });
  s.deliver({ jsonrpc: "2.0", method: Method.newChannelMember, member: bob, channel: { name: b64("r") } });
  s.deliver({ jsonrpc: "2.0", method: Method.publishMsg, message: { text: b64("☃") }, channel: { name: "r" }, member: bob });
  s.deliver({ jsonrpc: "2.0", method: Method.removeChannelMember, member: bob, channel: { name: "r" } });
  s.deliver({ jsonrpc: "2.0", method: Method.removeMember, member: bob });
  s.deliver({ jsonrpc: "2.0", method: Method.errorMemberChannel, error: { code: 12, text: "Subscription not exists." }, message: { text: "lost" }, channel: { name: "r" }, member: bob });
  s.deliver({ jsonrpc: "2.0", method: Method.invitationResponse, channel: { name: "r" }, member: bob, members: [{ id: SESSION }], error: { code: 100, text: "Invitation declined." } });
  assert.deepEqual(got, [
    ["newmember", { member: bob, self: false }],
    ["newchannelmember", { member: bob, channel: "r", self: false }],
    ["publishmsg", { text: "☃", channel: "r", member: bob }],
    ["removechannelmember", { member: bob, channel: "r", self: false }],
    ["removemember", { member: bob }],
    ["error", { code: 12, text: "Subscription not exists.", channel: "r", member: bob, message: "lost" }],
    ["invitationresponse", { channel: "r", member: bob, accepted: false, code: 100, text: "Invitation declined." }],
  ]);
});

test("an invitation is accepted (subscribe + code 0) or refused (100 by default)", async () => {
  const { p, sock } = await connected();
  p.join("bob");
  sock().deliver({ jsonrpc: "2.0", method: Method.newMember, member: { id: SESSION, name: "bob", info: "" } });
  const invs = [];
  p.on("invitation", (e) => invs.push(e.invitation));
  const alice = { id: "ALICE", name: "alice", info: "" };
  sock().deliver({ jsonrpc: "2.0", method: Method.invitation, channel: { name: "room" }, member: alice, members: [] });
  sock().deliver({ jsonrpc: "2.0", method: Method.invitation, channel: { name: "other" }, member: alice, members: [] });
  sock().deliver({ jsonrpc: "2.0", method: Method.invitation, channel: { name: "third" }, member: alice, members: [] });
  assert.equal(invs.length, 3);
  assert.equal(invs[0].from.name, "alice");
  sock().sent = [];
  assert.equal(invs[0].accept(), true);
  assert.equal(invs[0].accept(), false); // answered once
  invs[1].refuse();
  invs[2].refuse(7, "busy");
  const me = { id: SESSION, name: "bob", info: "" };
  const inviter = [{ id: "ALICE", name: "", info: "" }];
  assert.deepEqual(sock().frames(), [
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "room" } },
    { jsonrpc: "2.0", method: Method.invitationResponse, channel: { name: "room" }, member: me, members: inviter, error: { code: 0, text: "" } },
    { jsonrpc: "2.0", method: Method.invitationResponse, channel: { name: "other" }, member: me, members: inviter, error: { code: 100, text: "Invitation declined." } },
    { jsonrpc: "2.0", method: Method.invitationResponse, channel: { name: "third" }, member: me, members: inviter, error: { code: 7, text: "busy" } },
  ]);
  assert.ok(p.channels.has("room"));
});

test("reconnect with backoff restores the member and its subscriptions", async () => {
  const { p, sock, timers } = await connected();
  const got = record(p, "disconnect", "reconnecting", "join");
  p.join("alice", "i");
  sock().deliver({ jsonrpc: "2.0", method: Method.newMember, member: { id: SESSION, name: "alice", info: "i" } });
  p.subscribe("a");
  p.subscribe("b");
  p.unsubscribe("b");
  p.subscribe("c");

  // Three failed attempts: the delay doubles up to maxDelay.
  sock().drop();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    delays.push(timers.runNext());
    sock().drop();
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
  assert.equal(FakeSocket.instances.length, 6);

  timers.runNext();
  const s = sock();
  s.open();
  const NEW = "00000000000000000000000000000001";
  s.deliver({ jsonrpc: "2.0", method: Method.session, message: { text: NEW } });
  assert.deepEqual(s.frames(), [{ jsonrpc: "2.0", method: Method.newMember, member: { id: NEW, name: "alice", info: "i" } }]);
  s.deliver({ jsonrpc: "2.0", method: Method.newMember, member: { id: NEW, name: "alice", info: "i" } });
  const me = { id: NEW, name: "alice", info: "i" };
  assert.deepEqual(s.frames().slice(1), [
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "a" } },
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "c" } },
  ]);
  assert.equal(got.filter(([n]) => n === "disconnect").length, 6);
  assert.ok(got.every(([n, e]) => n !== "disconnect" || e.reconnecting));

  // After the restore, a new connection does not re-subscribe twice; the
  // backoff starts again from minDelay.
  s.drop();
  assert.equal(timers.runNext(), 100);

  // close() stops for good.
  p.close();
  assert.equal(timers.pending.length, 0);
  assert.equal(got.at(-1)[1].reconnecting, false);
});

test("with urls, each reconnection goes to the next address", async () => {
  const { p, sock, timers } = await connected({ urls: ["ws://other/", "ws://third/"], random: () => 0 });
  assert.equal(sock().url, "ws://host/");
  const seen = [];
  const delays = [];
  for (let i = 0; i < 3; i++) {
    sock().drop(1001);
    delays.push(timers.runNext());
    seen.push(sock().url);
  }
  assert.deepEqual(seen, ["ws://other/", "ws://third/", "ws://host/"]);
  // random() = 0: the lower end of each jittered window [base/2, base].
  assert.deepEqual(delays, [50, 100, 200]);
  p.close();
});

test("close before the session rejects connect", async () => {
  const { p, sock } = newClient({ reconnect: false });
  const done = p.connect();
  sock().drop(1002);
  await assert.rejects(done, /1002/);
});

test("the demo page's module script parses and imports /rollcall.js", async () => {
  const { readFile, writeFile, mkdtemp, rm } = await import("node:fs/promises");
  const { execFileSync } = await import("node:child_process");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const html = await readFile(new URL("./index.html", import.meta.url), "utf8");
  const m = html.match(/<script type="module">([\s\S]*?)<\/script>/);
  assert.ok(m, "index.html has a module script");
  assert.match(m[1], /from "\/rollcall\.js"/);
  const dir = await mkdtemp(path.join(tmpdir(), "rollcall-page-"));
  try {
    const file = path.join(dir, "page.mjs");
    await writeFile(file, m[1]);
    execFileSync(process.execPath, ["--check", file], { stdio: "pipe" }); // throws on a syntax error
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("channels subscribed before the join are sent once the join is confirmed", async () => {
  const { p, sock } = newClient();
  p.subscribe("early"); // not connected yet
  p.join("alice");
  const done = p.connect();
  sock().open();
  sock().deliver({ jsonrpc: "2.0", method: Method.session, message: { text: SESSION } });
  await done;
  p.subscribe("pending"); // join sent, not confirmed: goes out in order
  const me = { id: SESSION, name: "alice", info: "" };
  sock().deliver({ jsonrpc: "2.0", method: Method.newMember, member: me });
  assert.deepEqual(sock().frames(), [
    { jsonrpc: "2.0", method: Method.newMember, member: me },
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "pending" } },
    { jsonrpc: "2.0", method: Method.newChannelMember, member: me, channel: { name: "early" } },
  ]);
});

test("a join from a session listener is sent once; join may name the member id", async () => {
  const { p, sock } = newClient();
  p.on("session", () => p.join("alice", "qa", "app-id-7"));
  const done = p.connect();
  sock().open();
  sock().deliver({ jsonrpc: "2.0", method: Method.session, message: { text: SESSION } });
  await done;
  assert.deepEqual(sock().frames(), [
    { jsonrpc: "2.0", method: Method.newMember, member: { id: "app-id-7", name: "alice", info: "qa" } },
  ]);
});

// The rollcall extension (docs/protocol.md, "The rollcall extension").

const frame = (method, rest = {}) => ({ jsonrpc: "2.0", method, ...rest });

// joinedExt returns a client of the extension that joined as alice, the
// server having accepted what it asked for.
async function joinedExt(opts = {}) {
  const c = await connected({ extensions: true, ...opts });
  c.p.join("alice", "");
  c.sock().deliver(frame(Method.hello, { extensions: ["diffs", "updates", "counts", "resume"] }));
  c.sock().deliver(frame(Method.newMember, { member: { id: SESSION, name: "alice", info: "" } }));
  return c;
}

const ann = { id: "A", name: "ann", info: "" };
const bob = { id: "B", name: "bob", info: "" };
const cat = { id: "C", name: "cat", info: "x" };

test("hello goes first, before the join; perEvent leaves diffs out; extensions:false sends none", async () => {
  for (const [opts, want] of [
    [{}, ["diffs", "updates", "counts", "resume"]],
    [{ perEvent: true }, ["updates", "counts", "resume"]],
  ]) {
    const { p, sock } = await connected({ extensions: true, ...opts });
    p.join("alice", "");
    assert.deepEqual(sock().frames()[0], frame(Method.hello, { extensions: want }));
    assert.equal(sock().frames()[1].method, Method.newMember);
  }
  const { p, sock } = await connected({ extensions: false });
  p.join("alice", "");
  assert.deepEqual(sock().frames().map((f) => f.method), [Method.newMember]);
});

test("a list in pages, then diffs: the member map and the per-member events", async () => {
  const { p, sock } = await joinedExt();
  const got = record(p, "newchannelmember", "removechannelmember", "channelmemberupdate");
  p.subscribe("room");
  sock().deliver(frame(Method.list, { channel: { name: "room" }, version: 7, members: [ann], more: true }));
  assert.equal(p.channelMembers("room"), null, "no map before the last page");
  sock().deliver(frame(Method.list, { channel: { name: "room" }, version: 7, members: [bob], more: false }));
  sock().deliver(frame(Method.newChannelMember, { member: { id: SESSION, name: "alice", info: "" }, channel: { name: "room" } }));
  assert.deepEqual(p.channelMembers("room").map((m) => m.id), [SESSION, "A", "B"]);
  assert.deepEqual(got.map(([n, e]) => [n, e.member.id]), [["newchannelmember", SESSION]], "the first list tells nothing new");

  got.length = 0;
  sock().deliver(frame(Method.diff, { channel: { name: "room" }, from: 7, version: 10, joined: [cat], left: ["A"], updated: [{ ...bob, info: "away" }] }));
  assert.deepEqual(got.map(([n, e]) => [n, e.member.id, e.channel]), [
    ["removechannelmember", "A", "room"],
    ["newchannelmember", "C", "room"],
    ["channelmemberupdate", "B", "room"],
  ]);
  // A stale diff (not above the map's version) changes nothing.
  got.length = 0;
  sock().deliver(frame(Method.diff, { channel: { name: "room" }, from: 7, version: 9, joined: [ann] }));
  assert.deepEqual(got, []);
  assert.deepEqual(p.channelMembers("room").map((m) => m.id), [SESSION, "B", "C"]);
  // Our own unsubscribe drops the map.
  p.unsubscribe("room");
  sock().deliver(frame(Method.removeChannelMember, { member: { id: SESSION, name: "alice", info: "" }, channel: { name: "room" } }));
  assert.equal(p.channelMembers("room"), null);
});

test("counts: subscribeCounts asks with counts:true, count events follow", async () => {
  const { p, sock } = await joinedExt();
  const got = record(p, "count");
  p.subscribeCounts("big");
  assert.deepEqual(sock().frames().at(-1), frame(Method.newChannelMember, { member: { id: SESSION, name: "alice", info: "" }, channel: { name: "big" }, counts: true }));
  sock().deliver(frame(Method.count, { channel: { name: "big" }, count: 12408 }));
  assert.deepEqual(got, [["count", { channel: "big", count: 12408 }]]);
});

test("update: the frame, our own confirmation, the events; a refusal is an error event", async () => {
  const { p, sock } = await joinedExt();
  const got = record(p, "memberupdate", "channelmemberupdate", "error");
  p.update("alicia", "away");
  assert.deepEqual(sock().frames().at(-1), frame(Method.updateMember, { member: { id: SESSION, name: "alicia", info: "away" } }));
  const me = { id: SESSION, name: "alicia", info: "away" };
  sock().deliver(frame(Method.updateMember, { member: me }));
  sock().deliver(frame(Method.updateChannelMember, { member: bob, channel: { name: "room" } }));
  assert.deepEqual(p.me, me);
  assert.deepEqual(got.map(([n, e]) => [n, e.member.id, e.self]), [
    ["memberupdate", SESSION, true],
    ["channelmemberupdate", "B", false],
  ]);
  p.update("forbidden", "");
  sock().deliver(frame(Method.errorMemberChannel, { error: { code: 49, text: "Update Member request has been denied." }, channel: { name: "" }, member: me }));
  assert.equal(got.at(-1)[0], "error");
  assert.equal(got.at(-1)[1].code, 49);
  assert.deepEqual(p.me, me, "a refused update changed the member");
});

test("update: a reconnect joins as the last confirmed name, never a refused one", async () => {
  const { p, sock, timers } = await joinedExt();
  p.update("alicia", "away");
  sock().deliver(frame(Method.updateMember, { member: { id: SESSION, name: "alicia", info: "away" } }));
  p.update("forbidden", "");
  sock().deliver(frame(Method.errorMemberChannel, { error: { code: 49, text: "Update Member request has been denied." }, channel: { name: "" }, member: {} }));
  // Sent but not yet answered when the socket drops: not confirmed either.
  p.update("pending", "");
  sock().drop();
  timers.runNext();
  sock().open();
  sock().deliver(frame(Method.session, { message: { text: "00000000000000000000000000000002" } }));
  assert.deepEqual(sock().frames()[1], frame(Method.newMember, { member: { id: "00000000000000000000000000000002", name: "alicia", info: "away" } }));

  // Without the updates extension nothing confirms: the name changes at once.
  sock().deliver(frame(Method.newMember, { member: { id: "00000000000000000000000000000002", name: "alicia", info: "away" } }));
  p.extensions = [];
  p.update("ally", "");
  sock().drop();
  timers.runNext();
  sock().open();
  sock().deliver(frame(Method.session, { message: { text: "00000000000000000000000000000003" } }));
  assert.deepEqual(sock().frames()[1], frame(Method.newMember, { member: { id: "00000000000000000000000000000003", name: "ally", info: "" } }));
});

test("resume: the last token is presented once, on a reconnect, never after close; a refusal is no error", async () => {
  const { p, sock, timers } = await joinedExt();
  const got = record(p, "hello", "resumerefused", "error", "newchannelmember", "removechannelmember");
  sock().deliver(frame(Method.resume, { token: "t1" }));
  sock().deliver(frame(Method.resume, { token: "t2" }));
  p.subscribe("room");
  sock().deliver(frame(Method.list, { channel: { name: "room" }, version: 3, members: [ann, bob], more: false }));

  sock().drop();
  timers.runNext();
  let s = sock();
  s.open();
  const NEW = "00000000000000000000000000000002";
  s.deliver(frame(Method.session, { message: { text: NEW } }));
  assert.deepEqual(s.frames()[0], frame(Method.hello, { extensions: ["diffs", "updates", "counts", "resume"], token: "t2" }));
  s.deliver(frame(Method.hello, { extensions: ["diffs", "updates", "counts", "resume"], resumed: true }));
  // The same member comes back; the new list tells only what changed.
  s.deliver(frame(Method.newMember, { member: { id: SESSION, name: "alice", info: "" } }));
  assert.equal(p.me.id, SESSION);
  assert.equal(s.frames().at(-1).method, Method.newChannelMember);
  s.deliver(frame(Method.list, { channel: { name: "room" }, version: 1, members: [bob, cat], more: false }));
  assert.deepEqual(got.filter(([n]) => n !== "hello").map(([n, e]) => [n, e.member.id]), [
    ["removechannelmember", "A"],
    ["newchannelmember", "C"],
  ]);
  assert.deepEqual(got.find(([n]) => n === "hello")[1], { extensions: ["diffs", "updates", "counts", "resume"], resumed: true });

  // No token kept (none came on this connection): the next hello has none.
  s.drop();
  timers.runNext();
  s = sock();
  s.open();
  s.deliver(frame(Method.session, { message: { text: "00000000000000000000000000000003" } }));
  assert.equal(s.frames()[0].token, undefined);
  s.deliver(frame(Method.errorMemberChannel, { error: { code: 51, text: "Resume refused: the token is unknown, used or too old." }, channel: { name: "" }, member: {} }));
  assert.equal(got.filter(([n]) => n === "error").length, 0);
  assert.equal(got.at(-1)[0], "resumerefused");

  // After close() (a leave) nothing is presented.
  s.deliver(frame(Method.resume, { token: "t3" }));
  p.close();
  const again = p.connect();
  sock().open();
  sock().deliver(frame(Method.session, { message: { text: "00000000000000000000000000000004" } }));
  await again;
  assert.equal(sock().frames()[0].token, undefined);
});

test("against a server that ignores hello (sgc's), everything stays per event", async () => {
  const { p, sock } = await connected({ extensions: true });
  const got = record(p, "newchannelmember", "removechannelmember", "hello");
  p.join("alice", "");
  sock().deliver(frame(Method.newMember, { member: { id: SESSION, name: "alice", info: "" } }));
  p.subscribe("room");
  sock().deliver(frame(Method.newChannelMember, { member: { id: SESSION, name: "alice", info: "" }, channel: { name: "room" } }));
  sock().deliver(frame(Method.newChannelMember, { member: ann, channel: { name: "room" } }));
  sock().deliver(frame(Method.removeChannelMember, { member: ann, channel: { name: "room" } }));
  assert.deepEqual(got.map(([n, e]) => [n, e.member.id]), [
    ["newchannelmember", SESSION],
    ["newchannelmember", "A"],
    ["removechannelmember", "A"],
  ]);
  assert.deepEqual(p.extensions, []);
  assert.equal(p.channelMembers("room"), null);
});
