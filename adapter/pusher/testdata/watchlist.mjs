// Watchlist events after sign-in: the online users of the watchlist right
// after signin, then online at a user's first signed-in socket and offline
// after its last, once per user however many tabs; more than 100 ids is
// refused with 4302.
import assert from "node:assert/strict";
import { client, connected, once, collect, sleep, makeSDK, main } from "./common.mjs";

const s = makeSDK();

// signedIn returns a signed-in pusher-js client of user id with watchlist.
async function signedIn(id, watchlist) {
  const userData = watchlist ? { id, watchlist } : { id };
  const c = await connected(client({ user: { id, info: {} }, signin: (socketId) => s.authenticateUser(socketId, userData) }));
  c.signin();
  await c.user.signinDonePromise;
  assert.equal(c.user.user_data.id, id);
  return c;
}

// event waits for the watchlist event name on c.
const event = (c, name) => once(c.user.watchlist, name);

main(async () => {
  const ann = await signedIn("ann");

  // The watcher: ann is online already, bob and 42 are not.
  const w = client({ user: { id: "watcher", info: {} }, signin: (socketId) => s.authenticateUser(socketId, { id: "watcher", watchlist: ["ann", "bob", "42"] }) });
  await connected(w);
  const first = event(w, "online");
  w.signin();
  assert.deepEqual(await first, { name: "online", user_ids: ["ann"] });

  // bob's first tab: online; his second tab: nothing.
  const offlines = collect(w.user.watchlist, "offline");
  const onlines = collect(w.user.watchlist, "online");
  let on = event(w, "online");
  const bob1 = await signedIn("bob");
  assert.deepEqual(await on, { name: "online", user_ids: ["bob"] });
  const bob2 = await signedIn("bob");
  // A user nobody watches: nothing either.
  await signedIn("carol");

  // bob's first tab goes: he is still online; his last: offline.
  bob1.disconnect();
  await sleep(300);
  assert.deepEqual(offlines, []);
  let off = event(w, "offline");
  bob2.disconnect();
  assert.deepEqual(await off, { name: "offline", user_ids: ["bob"] });
  off = event(w, "offline");
  ann.disconnect();
  assert.deepEqual(await off, { name: "offline", user_ids: ["ann"] });
  assert.deepEqual(onlines, [{ name: "online", user_ids: ["bob"] }]);

  // A numeric id in the watchlist is the user with those digits.
  on = event(w, "online");
  await signedIn("42");
  assert.deepEqual(await on, { name: "online", user_ids: ["42"] });

  // 101 ids: pusher:error 4302, no signin.
  const ids = Array.from({ length: 101 }, (_, i) => "u" + i);
  const big = await connected(client({ user: { id: "big", info: {} }, signin: (socketId) => s.authenticateUser(socketId, { id: "big", watchlist: ids }) }));
  const err = once(big.connection, "error");
  big.signin();
  assert.equal((await err).data.code, 4302);
  assert.equal(big.connection.state, "connected");
  return {};
});
