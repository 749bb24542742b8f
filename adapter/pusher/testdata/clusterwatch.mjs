// Watchlists over two rollcall nodes (input as cluster.mjs's): a watcher
// on node A hears a user online while a socket of either node is signed in
// as it, and offline after its last socket on any node, once per change.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, sleep, makeSDK, input, main } from "./common.mjs";

const nodeB = { host: input.hostB, port: input.portB };
const sdkA = makeSDK();

// signedIn returns a pusher-js client of user id on node (A if absent),
// signed in with watchlist.
async function signedIn(id, node, watchlist) {
  const userData = watchlist ? { id, watchlist } : { id };
  const c = await connected(client({ user: { id, info: {} }, signin: (socketId) => sdkA.authenticateUser(socketId, userData), ...node }));
  c.signin();
  await c.user.signinDonePromise;
  return c;
}

// unoccupied waits until node A says channel has no subscriber.
async function unoccupied(channel) {
  const end = Date.now() + 5000;
  for (;;) {
    const res = await sdkA.get({ path: "/channels/" + channel });
    assert.equal(res.status, 200);
    if (!(await res.json()).occupied) return;
    if (Date.now() > end) throw new Error(channel + " still occupied");
    await sleep(20);
  }
}

main(async () => {
  // ann is on node B; the watcher on node A hears her online (in its
  // first list, or just after if node A had not heard of her yet).
  const ann = await signedIn("ann", nodeB);
  const w = await connected(client({
    user: { id: "watcher", info: {} }, signin: (socketId) => sdkA.authenticateUser(socketId, { id: "watcher", watchlist: ["ann", "bob", "zed"] }),
  }));
  const onlines = collect(w.user.watchlist, "online");
  const offlines = collect(w.user.watchlist, "offline");
  let on = once(w.user.watchlist, "online");
  w.signin();
  assert.deepEqual(await on, { name: "online", user_ids: ["ann"] });

  // bob's first tab, on node B: online; his second, on node A: nothing.
  on = once(w.user.watchlist, "online");
  const bob1 = await signedIn("bob", nodeB);
  assert.deepEqual(await on, { name: "online", user_ids: ["bob"] });
  const bob2 = await signedIn("bob");
  await subscribed(bob2, "bob2");

  // bob's tab on node A goes, the one on node B stays: he is online.
  // (Node A has handled bob2's end once its channel is empty; zed's
  // online, queued after, comes after any offline it made.)
  bob2.disconnect();
  await unoccupied("bob2");
  on = once(w.user.watchlist, "online");
  await signedIn("zed");
  assert.deepEqual(await on, { name: "online", user_ids: ["zed"] });
  assert.deepEqual(offlines, []);

  // His last tab, on node B, goes: offline, on node A; then ann's.
  let off = once(w.user.watchlist, "offline");
  bob1.disconnect();
  assert.deepEqual(await off, { name: "offline", user_ids: ["bob"] });
  off = once(w.user.watchlist, "offline");
  ann.disconnect();
  assert.deepEqual(await off, { name: "offline", user_ids: ["ann"] });
  assert.deepEqual(onlines.map((e) => e.user_ids), [["ann"], ["bob"], ["zed"]]);
  assert.deepEqual(offlines.map((e) => e.user_ids), [["bob"], ["ann"]]);
  return {};
});
