// End-to-end check of rollcall.js's rollcall extension against a real
// rollcall server, run by web/e2e_test.go:
//   node e2e-ext.mjs ws://server/ ws://proxy/ http://control/
// The proxy reaches the same server and can drop its connections without a
// close (GET control/cut); control/ghosts says how many lost connections
// the server keeps. Exits 0 after "e2e-ext: ok".
import assert from "node:assert/strict";
import { Presence } from "../static/rollcall.js";

const [url, proxied, ctl] = process.argv.slice(2);
let step = "start";
let debug = () => "";
setTimeout(async () => {
  console.error("e2e-ext: timed out at", step, await debug());
  process.exit(2);
}, 25000).unref();

const opts = { minDelay: 20, maxDelay: 100 };
const all = [];
function client(u = url, o = {}) {
  const c = new Presence(u, { ...opts, ...o });
  c.on("badframe", (e) => {
    console.error("e2e-ext: bad frame", e.error.message, e.data);
    process.exit(1);
  });
  c.on("exception", (e) => {
    console.error("e2e-ext: exception", e.error);
    process.exit(1);
  });
  all.push(c);
  return c;
}

function next(c, name, pred = () => true) {
  return new Promise((resolve) => {
    const off = c.on(name, (e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });
}

// eventually polls cond (every 20 ms) until it holds.
async function eventually(what, cond) {
  step = what;
  while (!(await cond())) await new Promise((r) => setTimeout(r, 20));
}

// member joins as name and subscribes to room, counts only if asked.
async function member(c, name, counts = false) {
  await c.connect();
  const joined = next(c, "join");
  c.join(name, "");
  await joined;
  const in_ = next(c, "newchannelmember", (e) => e.self && e.channel === "room");
  if (counts) c.subscribeCounts("room");
  else c.subscribe("room");
  await in_;
}

// fold is the member set of "room" that a client's events add up to.
function fold(c) {
  const set = new Map();
  c.on("newchannelmember", (e) => e.channel === "room" && set.set(e.member.id, e.member));
  c.on("removechannelmember", (e) => e.channel === "room" && set.delete(e.member.id));
  c.on("channelmemberupdate", (e) => e.channel === "room" && set.has(e.member.id) && set.set(e.member.id, e.member));
  return set;
}
const sorted = (ms) => [...ms].map((m) => `${m.id}/${m.name}/${m.info}`).sort();

// A per-event client and a diff client watch a storm of joins, leaves and
// updates: their events add up to the same members, and the diff client's
// map is the server's list.
step = "observers";
const pe = client(url, { perEvent: true });
const df = client(url);
const peSet = fold(pe);
const dfSet = fold(df);
await member(pe, "per-event");
await member(df, "diffs");
// Events tell changes: what was there before the subscribe is in the list.
for (const m of df.channelMembers("room")) if (!dfSet.has(m.id)) dfSet.set(m.id, m);
assert.ok(df.extensions.includes("diffs") && !pe.extensions.includes("diffs"), `extensions ${df.extensions} / ${pe.extensions}`);

step = "storm";
const storm = Array.from({ length: 30 }, () => client());
await Promise.all(storm.map((c, i) => member(c, `m${i}`)));
for (const c of storm.slice(0, 10)) c.close();
for (const [i, c] of storm.slice(10, 15).entries()) c.update(`m${i + 10}x`, "busy");
debug = async () => JSON.stringify({ list: sorted(await pe.getMembers("room")), pe: sorted(peSet.values()), df: sorted(dfSet.values()), map: sorted(df.channelMembers("room") ?? []) });
await eventually("the storm to settle", async () => {
  const list = sorted(await pe.getMembers("room"));
  return list.length === 22 && list.join() === sorted(peSet.values()).join() && list.join() === sorted(dfSet.values()).join() && list.join() === sorted(df.channelMembers("room")).join();
});
assert.ok(sorted(df.channelMembers("room")).some((m) => m.endsWith("/m10x/busy")), "an update reached the diff client's map");

// A late diff client gets the list in pages (the server's page is 7).
step = "pages";
const late = client();
let pages = 0;
late.on("message", (e) => e.frame.method === "rollcall@members" && e.frame.channel?.name === "room" && pages++);
await member(late, "late");
await eventually("the late client's map", async () => sorted(late.channelMembers("room")).join() === sorted(await late.getMembers("room")).join());
assert.ok(pages >= 3, `${pages} pages`);

// A counts-only subscriber hears the count.
step = "counts";
const cnt = client();
let count = -1;
cnt.on("count", (e) => e.channel === "room" && (count = e.count));
await member(cnt, "counter", true);
await eventually("the count", async () => count === (await cnt.getMembers("room")).length);

// A member whose socket drops comes back with its resume token: nobody
// hears it leave or join.
step = "resume";
const rita = client(proxied);
await member(rita, "rita");
await eventually("rita's token", async () => rita._resumeToken !== "");
const id = rita.me.id;
await eventually("rita's join heard", async () => peSet.has(id) && dfSet.has(id));
const heard = [];
for (const c of [pe, df]) {
  for (const n of ["newmember", "removemember", "newchannelmember", "removechannelmember"]) {
    c.on(n, (e) => e.member.id === id && heard.push(`${n} ${e.member.name}`));
  }
}
const back = next(rita, "hello", (e) => e.resumed);
const rejoined = next(rita, "join");
await fetch(ctl + "cut");
await back;
assert.equal((await rejoined).member.id, id);
await eventually("the old connection to go", async () => (await (await fetch(ctl + "ghosts")).text()) === "0");
const fences = [pe, df].map((c) => next(c, "publishmsg", (e) => e.text === "fence"));
await eventually("rita back in the room", async () => rita._sentSubs.has("room"));
rita.publish("fence", "room");
await Promise.all(fences);
assert.deepEqual(heard, [], "a resumed member was heard");

for (const c of all) c.close();
console.log("e2e-ext: ok");
