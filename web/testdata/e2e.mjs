// End-to-end check of rollcall.js against a real rollcall server, run by
// web/e2e_test.go: node e2e.mjs ws://host/ [base64]. Exits 0 when every step
// happened; prints what went wrong otherwise.
import assert from "node:assert/strict";
import { Presence } from "../static/rollcall.js";

const [url, mode] = process.argv.slice(2);
const base64 = mode === "base64";
setTimeout(() => {
  console.error("e2e: timed out");
  process.exit(2);
}, 10000).unref();

// next resolves with the next event of that name matching pred.
function next(client, name, pred = () => true) {
  return new Promise((resolve) => {
    const off = client.on(name, (e) => {
      if (pred(e)) {
        off();
        resolve(e);
      }
    });
  });
}

const opts = { base64, minDelay: 20, maxDelay: 100 };
const a = new Presence(url, opts);
const b = new Presence(url, opts);
for (const c of [a, b]) {
  c.on("badframe", (e) => {
    console.error("e2e: bad frame", e.error.message, e.data);
    process.exit(1);
  });
  c.on("exception", (e) => {
    console.error("e2e: exception", e.error);
    process.exit(1);
  });
}

const CH = "salle ☃";
await Promise.all([a.connect(), b.connect()]);
let joined = next(a, "join");
a.join("alice é", "role=qa");
await joined;
joined = next(b, "join");
b.join("bob", "");
await joined;
assert.deepEqual((await a.getMembers("")).map((m) => m.name), ["alice é", "bob"]);

let sub = next(a, "newchannelmember", (e) => e.self);
a.subscribe(CH);
await sub;
// The rollcall extension was asked for and taken, in Base64 too: a's map
// of the channel (a non-ASCII name) is the list the server gave.
assert.deepEqual(a.extensions, ["diffs", "updates", "counts"]);
assert.deepEqual(a.channelMembers(CH).map((m) => m.name), ["alice é"]);

// b is invited, accepts (subscribing), a hears the subscription and the answer.
b.on("invitation", (e) => e.invitation.accept());
const bobIn = next(a, "newchannelmember", (e) => e.member.name === "bob" && e.channel === CH);
const answer = next(a, "invitationresponse");
a.invite(CH, b.me.id);
await bobIn;
const r = await answer;
assert.equal(r.accepted, true);
assert.equal(r.member.name, "bob");
assert.deepEqual((await b.getMembers(CH)).map((m) => m.name), ["alice é", "bob"]);

// a message reaches both, decoded.
const got = next(a, "publishmsg");
b.publish("héllo ☃", CH);
const msg = await got;
assert.deepEqual([msg.text, msg.channel, msg.member.name], ["héllo ☃", CH, "bob"]);

// a refused request is an error event.
const err = next(b, "error");
b.unsubscribe("no such channel");
assert.equal((await err).code, 5);

// a's socket drops: b sees it leave, then come back into the channel.
const left = next(b, "removemember", (e) => e.member.name === "alice é");
const back = next(b, "newchannelmember", (e) => e.member.name === "alice é" && e.channel === CH);
a.socket.close();
await left;
await back;
assert.deepEqual((await b.getMembers(CH)).map((m) => m.name), ["bob", "alice é"]);

a.close();
b.close();
console.log("e2e: ok");
