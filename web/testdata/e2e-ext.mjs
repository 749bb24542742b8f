// End-to-end check of rollcall.js's rollcall extension against a real
// rollcall server, run by web/e2e_test.go:
//   node e2e-ext.mjs ws://server/ ws://cutter/ ws://sgc-like/ http://control/ countMs
// The cutter reaches the same server and can drop its connections without a
// close (GET control/cut); control/ghosts says how many lost connections
// the server keeps; control/populate and control/unsubscribe put socketless
// members in and out of a channel. sgc-like is a proxy to the same server
// that drops the client's rollcall@hello, as an sgc server ignores it.
// countMs is the server's count interval. Exits 0 after "e2e-ext: ok".
import assert from "node:assert/strict";
import { Presence } from "../static/rollcall.js";

const [url, proxied, sgcLike, ctl, countArg] = process.argv.slice(2);
const countMs = Number(countArg);
let step = "start";
let debug = () => "";
setTimeout(async () => {
  console.error("e2e-ext: timed out at", step, await debug());
  process.exit(2);
}, 50000).unref();

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

// get asks the test's control server for path.
async function get(path) {
  const res = await fetch(ctl + path);
  const text = await res.text();
  assert.ok(res.ok, `${path}: ${res.status} ${text}`);
  return text;
}

// member joins as name and subscribes to channel, counts only if asked.
async function member(c, name, channel = "room", counts = false) {
  await c.connect();
  const joined = next(c, "join");
  c.join(name, "");
  await joined;
  const in_ = next(c, "newchannelmember", (e) => e.self && e.channel === channel);
  if (counts) c.subscribeCounts(channel);
  else c.subscribe(channel);
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

// record keeps every member callback a client fires, as text: the event, the
// channel ("": the server's members), the member id, and the name and info
// of what a member became (a leave tells only who).
const memberEvents = ["newmember", "removemember", "newchannelmember", "removechannelmember", "memberupdate", "channelmemberupdate"];
function record(c) {
  const log = [];
  for (const n of memberEvents) {
    c.on(n, (e) => {
      const m = e.member;
      log.push({ id: m.id, text: n.startsWith("remove") ? `${n} ${e.channel ?? ""} ${m.id}` : `${n} ${e.channel ?? ""} ${m.id} ${m.name} ${m.info}` });
    });
  }
  return log;
}
// calls are the callbacks of log about the members of ids (a Set), sorted.
const calls = (log, ids) => log.filter((x) => ids.has(x.id)).map((x) => x.text).sort();
const sorted = (ms) => [...ms].map((m) => `${m.id}/${m.name}/${m.info}`).sort();

// A per-event client and a diff client watch a storm of joins, then of
// leaves and updates: they fire the same callbacks, their events add up to
// the same members, and the diff client's map is the server's list.
step = "observers";
const pe = client(url, { perEvent: true });
const df = client(url);
const peSet = fold(pe);
const dfSet = fold(df);
const peLog = record(pe);
const dfLog = record(df);
await member(pe, "per-event");
await member(df, "diffs");
// Events tell changes: what was there before the subscribe is in the list.
for (const m of df.channelMembers("room")) if (!dfSet.has(m.id)) dfSet.set(m.id, m);
assert.ok(df.extensions.includes("diffs") && !pe.extensions.includes("diffs"), `extensions ${df.extensions} / ${pe.extensions}`);
assert.ok(pe.extensions.includes("updates") && df.extensions.includes("updates"), `extensions ${df.extensions} / ${pe.extensions}`);
assert.equal(pe.channelMembers("room"), null, "a per-event client keeps a map");

step = "join storm";
const storm = Array.from({ length: 30 }, () => client());
await Promise.all(storm.map((c, i) => member(c, `m${i}`)));
const ids = new Set(storm.map((c) => c.me.id));
debug = async () => JSON.stringify({ pe: calls(peLog, ids), df: calls(dfLog, ids) });
// Each joiner is a new member of the server and of room.
await eventually("both observers to hear the joins", () => calls(peLog, ids).length >= 60 && calls(dfLog, ids).length >= 60);
assert.deepEqual(calls(dfLog, ids), calls(peLog, ids), "a join storm: diff and per-event callbacks differ");
assert.equal(calls(peLog, ids).length, 60);

step = "leaves and updates";
const refused = next(storm[15], "error", (e) => e.code === 49);
storm[15].update("forbidden", "");
for (const c of storm.slice(0, 10)) c.close();
for (const [i, c] of storm.slice(10, 15).entries()) c.update(`m${i + 10}x`, "busy");
assert.equal((await refused).code, 49);
debug = async () =>
  JSON.stringify({
    list: sorted(await pe.getMembers("room")),
    pe: sorted(peSet.values()),
    df: sorted(dfSet.values()),
    map: sorted(df.channelMembers("room") ?? []),
    peCalls: calls(peLog, ids),
    dfCalls: calls(dfLog, ids),
  });
await eventually("the storm to settle", async () => {
  const list = sorted(await pe.getMembers("room"));
  return list.length === 22 && list.join() === sorted(peSet.values()).join() && list.join() === sorted(dfSet.values()).join() && list.join() === sorted(df.channelMembers("room")).join();
});
// 20 leaves (server and room) and 10 updates (the same) on top of the joins.
await eventually("all the callbacks", () => calls(peLog, ids).length >= 90 && calls(dfLog, ids).length >= 90);
assert.deepEqual(calls(dfLog, ids), calls(peLog, ids), "leaves and updates: diff and per-event callbacks differ");
assert.equal(calls(peLog, ids).length, 90);
assert.ok(sorted(df.channelMembers("room")).some((m) => m.endsWith("/m10x/busy")), "an update reached the diff client's map");
assert.ok(!sorted(df.channelMembers("")).some((m) => m.includes("/forbidden/")), "a refused update reached the diff client's map");
assert.equal(storm[10].me.name, "m10x", "the updater's own member after its update");
assert.equal(storm[15].me.name, "m15", "the refused updater's own member");

// A late diff client gets a 3,000-member list in pages of 100, all of one
// version; the list fires nothing, and what changes after it fires exactly
// its callbacks.
step = "big list";
await get("populate?channel=big&n=3000&prefix=b");
const late = client();
const lateLog = record(late);
const pages = [];
late.on("message", (e) => {
  const f = e.frame;
  if (f.method === "rollcall@members" && f.channel?.name === "big") pages.push({ version: f.version, n: f.members.length, more: f.more === true });
});
await member(late, "late", "big");
await eventually("the big list", () => late.channelMembers("big")?.length === 3001);
debug = async () => JSON.stringify(pages);
assert.ok(pages.length >= 30, `${pages.length} pages`);
assert.ok(
  pages.every((p, i) => p.version === pages[0].version && p.more === i < pages.length - 1 && (p.n === 100 || i === pages.length - 1)),
  `pages ${JSON.stringify(pages)}`,
);
const bigCalls = () => lateLog.filter((x) => x.text.includes(" big ") && x.id !== late.me.id).map((x) => x.text).sort();
assert.deepEqual(bigCalls(), [], "the first list fired callbacks");
await get("unsubscribe?channel=big&id=b0");
await get("populate?channel=big&n=1&prefix=b-late");
await eventually("the diffs after the list", () => bigCalls().length >= 2);
assert.deepEqual(bigCalls(), ["newchannelmember big b-late0 n-b-late0 ", "removechannelmember big b0"]);
const big = late.channelMembers("big");
assert.ok(big.length === 3001 && big.some((m) => m.id === "b-late0") && !big.some((m) => m.id === "b0"), "the big map after the diffs");

// A counts-only subscriber hears the count at once, then at most once per
// interval through a storm of joins, ending with the right count; it hears
// none of the others' member events.
step = "counts";
const cnt = client();
const cntLog = record(cnt);
const counts = [];
cnt.on("count", (e) => e.channel === "storm" && counts.push({ n: e.count, at: performance.now() }));
await member(cnt, "counter", "storm", true);
await eventually("the first count", () => counts.length > 0);
assert.equal(counts[0].n, 1, "the first count is the subscriber");
const start = performance.now();
await get("populate?channel=storm&n=150&prefix=s&pace=5ms");
debug = async () => JSON.stringify(counts);
await eventually("the last count", () => counts.at(-1).n === 151);
const elapsed = performance.now() - start;
assert.ok(counts.length - 1 <= Math.floor(elapsed / countMs) + 2, `${counts.length - 1} counts in ${Math.round(elapsed)} ms`);
for (let i = 1; i < counts.length; i++) {
  // 3/5 of the interval: the server paces them, the sockets may bunch two a little.
  assert.ok(counts[i].at - counts[i - 1].at >= (countMs * 3) / 5, `counts ${i - 1} and ${i} ${Math.round(counts[i].at - counts[i - 1].at)} ms apart`);
}
assert.deepEqual(cntLog.filter((x) => x.text.includes(" storm ") && x.id !== cnt.me.id), [], "a counts-only subscriber heard member events");

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
  for (const n of memberEvents) c.on(n, (e) => e.member.id === id && heard.push(`${n} ${e.member.name}`));
}
const back = next(rita, "hello", (e) => e.resumed);
const rejoined = next(rita, "join");
await get("cut");
await back;
assert.equal((await rejoined).member.id, id);
await eventually("the old connection to go", async () => (await get("ghosts")) === "0");
const fences = [pe, df].map((c) => next(c, "publishmsg", (e) => e.text === "fence"));
await eventually("rita back in the room", async () => rita._sentSubs.has("room"));
rita.publish("fence", "room");
await Promise.all(fences);
assert.deepEqual(heard, [], "a resumed member was heard");

// A token the server does not know is refused (error 51, not an "error"
// event): the client comes back as a new member, whom the others hear join.
step = "resume refused";
await eventually("rita's new token", async () => rita._resumeToken !== "");
rita._resumeToken += "x"; // forged
let errors = 0;
rita.on("error", () => errors++);
const refusedResume = next(rita, "resumerefused");
const rejoinedNew = next(rita, "join");
await get("cut");
await refusedResume;
const newID = (await rejoinedNew).member.id;
assert.notEqual(newID, id, "a refused resume kept the member");
await eventually("the new member heard", () => peSet.has(newID) && dfSet.has(newID));
assert.equal(errors, 0, "a refused resume was an error event");

// Through a proxy that drops its hello (what an sgc server does with it),
// a client never hears the extension and works per event: no map, member
// events of others, and a counts-only subscribe is a plain one.
step = "sgc-like";
const sg = client(sgcLike);
const sgLog = record(sg);
let sgCounts = 0;
sg.on("count", () => sgCounts++);
await member(sg, "classic");
assert.deepEqual(sg.extensions, []);
assert.equal(sg.channelMembers("room"), null);
assert.equal(sg.channelMembers(""), null);
const after = client();
const heardAfter = next(sg, "newchannelmember", (e) => e.channel === "room" && e.member.name === "after-classic");
await member(after, "after-classic");
await heardAfter;
const inCounted = next(sg, "newchannelmember", (e) => e.self && e.channel === "counted");
sg.subscribeCounts("counted");
await inCounted;
await get("populate?channel=counted&n=1&prefix=c");
await eventually("a member event instead of a count", () => sgLog.some((x) => x.text.startsWith("newchannelmember counted c0 ")));
assert.equal(sgCounts, 0, "counts without the extension");

for (const c of all) c.close();
console.log("e2e-ext: ok");
