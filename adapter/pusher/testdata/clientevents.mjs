// Client events: to the other subscribers only, with user_id on presence
// channels; refused on public channels, when the app turns them off and
// above the rate (10 a second), each with pusher:error 4301.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, sleep, input, main } from "./common.mjs";

main(async () => {
  const a = await connected(client({ user: { id: "ann", info: { name: "Ann" } } }));
  const b = await connected(client({ user: { id: "ben", info: { name: "Ben" } } }));
  const { ch: pa } = await subscribed(a, "private-chat");
  const { ch: pb } = await subscribed(b, "private-chat");
  const echo = collect(pa, "client-typing");
  let got = once(pb, "client-typing", 5000, true);
  assert.ok(pa.trigger("client-typing", { text: "hi" }));
  assert.deepEqual(await got, { data: { text: "hi" }, meta: {} });
  await sleep(200);
  assert.deepEqual(echo, [], "never back to the sender");

  const { ch: xa } = await subscribed(a, "presence-chat");
  const { ch: xb } = await subscribed(b, "presence-chat");
  got = once(xb, "client-typing", 5000, true);
  xa.trigger("client-typing", { text: "yo" });
  assert.deepEqual(await got, { data: { text: "yo" }, meta: { user_id: "ann" } });

  // On a public channel.
  const { ch: pub } = await subscribed(a, "lobby");
  let err = once(a.connection, "error");
  pub.trigger("client-nope", {});
  err = await err;
  assert.equal(err.data.code, 4301);
  assert.match(err.data.message, /private and presence/);

  await sleep(1100); // a full bucket again
  // A flood: 30 at once; 10 pass (the burst), the rest are refused.
  const flood = collect(pb, "client-flood");
  err = once(a.connection, "error");
  for (let i = 0; i < 30; i++) pa.trigger("client-flood", { i });
  err = await err;
  assert.equal(err.data.code, 4301);
  assert.match(err.data.message, /rate limit/);
  await sleep(500);
  assert.ok(flood.length >= 10 && flood.length <= 12, "passed: " + flood.length);
  // The others are not hurt: b still hears a fresh event after a second.
  await sleep(1100);
  got = once(pb, "client-after", 5000, true);
  pa.trigger("client-after", { ok: 1 });
  assert.deepEqual(await got, { data: { ok: 1 }, meta: {} });

  // App 2 has client events off.
  const o = await connected(client({ appId: input.otherAppId, key: input.otherKey, secret: input.otherSecret }));
  const { ch: op } = await subscribed(o, "private-x");
  err = once(o.connection, "error");
  op.trigger("client-x", {});
  err = await err;
  assert.equal(err.data.code, 4301);
  assert.match(err.data.message, /not enabled/);
  return { passed: flood.length };
});
