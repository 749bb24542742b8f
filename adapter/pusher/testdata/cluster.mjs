// Pusher over two rollcall nodes (input: host/port of node A, hostB/portB of
// node B, one app): pusher-js clients on both nodes, the SDK asking either
// node. A channel whose only subscriber is on the other node is listed,
// occupied and counted; presence channels answer user_count and
// subscription_count for the cluster; a trigger on one node reaches a
// subscriber on the other; terminate_connections on one node closes the
// user's sockets on the other. Every change is made after the other node
// saw the previous one, so that each webhook transition is unambiguous
// (cmd/rollcall's TestClusterPusher checks the webhooks).
import assert from "node:assert/strict";
import { client, connected, subscribed, once, sleep, makeSDK, input, main } from "./common.mjs";

const nodeB = { host: input.hostB, port: input.portB };
const sdkA = makeSDK();
const sdkB = makeSDK(nodeB);

async function get(sdk, path, params) {
  const res = await sdk.get({ path, params });
  assert.equal(res.status, 200);
  return res.json();
}

// until polls a node's answer until it deep-equals want (replication is
// asynchronous), failing with the last answer after 5 s.
async function until(sdk, path, params, want) {
  const end = Date.now() + 5000;
  for (;;) {
    const got = await get(sdk, path, params);
    try {
      assert.deepEqual(got, want);
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await sleep(20);
  }
}

main(async () => {
  const ann = { id: "ann", info: { name: "Ann" } };
  const bob = { id: "bob", info: { name: "Bob" } };
  const a = await connected(client({ user: ann }));
  const b = await connected(client({ user: bob, ...nodeB }));

  // A public channel whose only subscriber is on node B, seen from node A.
  const solo = await subscribed(b, "solo");
  await until(sdkA, "/channels/solo", { info: "subscription_count" }, { occupied: true, subscription_count: 1 });
  await until(sdkA, "/channels", { info: "subscription_count" }, { channels: { solo: { subscription_count: 1 } } });
  const hi = once(solo.ch, "hi");
  await sdkA.trigger("solo", "hi", { from: "A" });
  assert.deepEqual(await hi, { from: "A" });

  // One subscriber on each node: counted together on either node.
  await subscribed(a, "news");
  await until(sdkB, "/channels/news", { info: "subscription_count" }, { occupied: true, subscription_count: 1 });
  await subscribed(b, "news");
  await until(sdkA, "/channels/news", { info: "subscription_count" }, { occupied: true, subscription_count: 2 });
  await until(sdkB, "/channels/news", { info: "subscription_count" }, { occupied: true, subscription_count: 2 });

  // A presence channel with a member on each node.
  await subscribed(a, "presence-room");
  await until(sdkB, "/channels/presence-room", { info: "user_count" }, { occupied: true, user_count: 1 });
  const { members } = await subscribed(b, "presence-room");
  assert.equal(members.count, 2);
  for (const sdk of [sdkA, sdkB]) {
    await until(sdk, "/channels/presence-room", { info: "user_count,subscription_count" }, { occupied: true, user_count: 2, subscription_count: 2 });
    await until(sdk, "/channels", { filter_by_prefix: "presence-", info: "user_count,subscription_count" },
      { channels: { "presence-room": { user_count: 2, subscription_count: 2 } } });
    const { users } = await get(sdk, "/channels/presence-room/users");
    assert.deepEqual(users.map((u) => u.id).sort(), ["ann", "bob"]);
  }

  // terminate_connections on node A closes carl's socket on node B, and
  // nobody else's. (Node A may not have heard of carl's signin yet: ask
  // again until the socket is closed.)
  const carl = await connected(client({ user: { id: "carl", info: {} }, ...nodeB }));
  const dora = await connected(client({ user: { id: "dora", info: {} }, ...nodeB }));
  for (const c of [carl, dora]) c.signin();
  for (const c of [carl, dora]) await c.user.signinDonePromise;
  const closed = once(carl.connection, "error", 5000);
  let done = false;
  closed.then(() => { done = true; }, () => { done = true; });
  while (!done) {
    await sdkA.terminateUserConnections("carl");
    await sleep(50);
  }
  assert.equal((await closed).data.code, 4009);
  assert.equal(dora.connection.state, "connected");
  assert.equal(b.connection.state, "connected");

  // Leave one at a time, each after the other node saw the last change.
  a.unsubscribe("news");
  await until(sdkB, "/channels/news", { info: "subscription_count" }, { occupied: true, subscription_count: 1 });
  b.unsubscribe("news");
  await until(sdkA, "/channels/news", {}, { occupied: false });
  a.unsubscribe("presence-room");
  await until(sdkB, "/channels/presence-room", { info: "user_count" }, { occupied: true, user_count: 1 });
  b.unsubscribe("presence-room");
  await until(sdkA, "/channels/presence-room", {}, { occupied: false });
  b.unsubscribe("solo");
  await until(sdkA, "/channels/solo", {}, { occupied: false });
  await until(sdkA, "/channels", {}, { channels: {} });
  return {};
});
