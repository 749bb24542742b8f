// Every HTTP API endpoint through the SDK: events (with info), batch_events
// (with info), channels (filter_by_prefix, info), one channel, its users,
// terminate_connections (in signin.mjs); and the refusals: a wrong secret
// (401), data over 10 KB (413), users of a non-presence channel and
// info=user_count without the presence prefix (400), a batch of 11 (400).
import assert from "node:assert/strict";
import { client, connected, subscribed, sdk, makeSDK, input, main } from "./common.mjs";

async function json(p) {
  const res = await p;
  assert.equal(res.status, 200);
  return res.json();
}

async function status(p) {
  try {
    await p;
  } catch (e) {
    return e.status;
  }
  return 200;
}

main(async () => {
  const a = await connected(client({ user: { id: "p1", info: { name: "P" } } }));
  const b = await connected(client({ user: { id: "p1", info: { name: "P" } } }));
  await subscribed(a, "api-news");
  await subscribed(b, "api-news");
  await subscribed(a, "presence-api");
  await subscribed(b, "presence-api"); // the same user twice: user_count 1

  assert.deepEqual(await json(sdk.trigger("api-news", "e", { x: 1 })), {});
  assert.deepEqual(await json(sdk.trigger(["api-news", "presence-api"], "e", {}, { info: "subscription_count,user_count" })), {
    channels: { "api-news": { subscription_count: 2 }, "presence-api": { subscription_count: 2, user_count: 1 } },
  });
  assert.deepEqual(await json(sdk.triggerBatch([{ channel: "api-news", name: "b1", data: "1" }, { channel: "api-news", name: "b2", data: "2" }])), {});
  assert.deepEqual(await json(sdk.triggerBatch([
    { channel: "api-news", name: "b1", data: "1", info: "subscription_count" },
    { channel: "presence-api", name: "b2", data: "2" },
  ])), { batch: [{ subscription_count: 2 }, {}] });

  const all = await json(sdk.get({ path: "/channels" }));
  assert.deepEqual(Object.keys(all.channels).sort(), ["api-news", "presence-api"]);
  assert.deepEqual(await json(sdk.get({ path: "/channels", params: { filter_by_prefix: "presence-", info: "user_count" } })), {
    channels: { "presence-api": { user_count: 1 } },
  });
  assert.deepEqual(await json(sdk.get({ path: "/channels", params: { info: "subscription_count" } })), {
    channels: { "api-news": { subscription_count: 2 }, "presence-api": { subscription_count: 2 } },
  });
  assert.deepEqual(await json(sdk.get({ path: "/channels/api-news", params: { info: "subscription_count" } })), { occupied: true, subscription_count: 2 });
  assert.deepEqual(await json(sdk.get({ path: "/channels/presence-api", params: { info: "user_count" } })), { occupied: true, user_count: 1 });
  // subscription_count on a presence channel too: its sockets, not its users.
  assert.deepEqual(await json(sdk.get({ path: "/channels/presence-api", params: { info: "user_count,subscription_count" } })),
    { occupied: true, user_count: 1, subscription_count: 2 });
  assert.deepEqual(await json(sdk.get({ path: "/channels/empty-one" })), { occupied: false });
  assert.deepEqual(await json(sdk.get({ path: "/channels/presence-api/users" })), { users: [{ id: "p1" }] });
  assert.deepEqual(await json(sdk.get({ path: "/channels/presence-nobody/users" })), { users: [] });

  // Refusals, each with its real status.
  assert.equal(await status(makeSDK({ secret: "wrong" }).trigger("api-news", "e", {})), 401);
  assert.equal(await status(makeSDK({ key: "wrong-key" }).get({ path: "/channels" })), 401);
  assert.equal(await status(sdk.trigger("api-news", "big", "x".repeat(10 * 1024 + 1))), 413);
  assert.equal(await status(sdk.get({ path: "/channels/api-news/users" })), 400);
  assert.equal(await status(sdk.get({ path: "/channels", params: { info: "user_count" } })), 400);
  assert.equal(await status(sdk.get({ path: "/channels/api-news", params: { info: "user_count" } })), 400);
  const eleven = Array.from({ length: 11 }, (_, i) => ({ channel: "api-news", name: "n" + i, data: "{}" }));
  assert.equal(await status(sdk.triggerBatch(eleven)), 400);
  assert.equal(await status(makeSDK({ appId: "404" }).trigger("api-news", "e", {})), 404);
  assert.deepEqual(await json(sdk.post({ path: "/users/nobody/terminate_connections", body: {} })), {});
  return {};
});
