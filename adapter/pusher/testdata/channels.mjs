// Every channel type through pusher-js and the SDK: public (object and
// string data, multi-channel, socket_id exclusion, unsubscribe), private
// (and a forged signature), private-encrypted (the SDK's master key),
// cache (miss, then the last event), and two isolated apps.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, sleep, sdk, makeSDK, input, main } from "./common.mjs";

main(async () => {
  const a = await connected(client());
  const b = await connected(client());

  // Public.
  const { ch: pub } = await subscribed(a, "news");
  const { ch: pubB } = await subscribed(b, "news");
  let got = once(pub, "ev");
  await sdk.trigger("news", "ev", { hello: "wörld", n: [1, 2] });
  assert.deepEqual(await got, { hello: "wörld", n: [1, 2] });
  got = once(pub, "ev-plain");
  await sdk.trigger("news", "ev-plain", "plain string");
  assert.equal(await got, "plain string");

  // Private, and a multi-channel trigger.
  const { ch: priv } = await subscribed(a, "private-orders");
  const both = [once(pub, "multi"), once(priv, "multi")];
  await sdk.trigger(["news", "private-orders"], "multi", { m: 1 });
  assert.deepEqual(await Promise.all(both), [{ m: 1 }, { m: 1 }]);

  // socket_id exclusion.
  const excludedA = collect(pub, "excl");
  got = once(pubB, "excl");
  await sdk.trigger("news", "excl", { x: 1 }, { socket_id: a.connection.socket_id });
  assert.deepEqual(await got, { x: 1 });
  await sleep(200);
  assert.deepEqual(excludedA, []);

  // A forged private signature: subscription_error, no events after.
  const forger = await connected(client({ authFor: (ch) => ch === "private-denied" && { auth: input.key + ":" + "0".repeat(64) } }));
  const denied = forger.subscribe("private-denied");
  const subErr = await once(denied, "pusher:subscription_error");
  assert.equal(subErr.type, "AuthError");
  assert.equal(subErr.status, 401);
  const leaked = collect(denied, "secret");
  await sdk.trigger("private-denied", "secret", {});
  await sleep(200);
  assert.deepEqual(leaked, []);

  // Encrypted: the SDK encrypts with the master key, pusher-js decrypts
  // with the shared_secret of its auth; the server relays ciphertext.
  const { ch: enc } = await subscribed(a, "private-encrypted-vault");
  got = once(enc, "secret");
  await sdk.trigger("private-encrypted-vault", "secret", { code: 1234 });
  assert.deepEqual(await got, { code: 1234 });

  // Cache: a miss for the first subscriber, the last event for the next.
  const c1 = a.subscribe("cache-scores");
  await once(c1, "pusher:cache_miss");
  await sdk.trigger("cache-scores", "score", { n: 7 });
  const late = b.subscribe("cache-scores");
  assert.deepEqual(await once(late, "score"), { n: 7 });

  // Unsubscribe stops delivery; a resubscribe works again.
  a.unsubscribe("news");
  const after = collect(pub, "gone");
  got = once(pubB, "gone");
  await sdk.trigger("news", "gone", {});
  await got;
  await sleep(200);
  assert.deepEqual(after, []);
  const { ch: again } = await subscribed(a, "news");
  got = once(again, "back");
  await sdk.trigger("news", "back", { ok: true });
  assert.deepEqual(await got, { ok: true });

  // Isolation: app 2's "news" is another channel.
  const other = { appId: input.otherAppId, key: input.otherKey, secret: input.otherSecret };
  const o = await connected(client(other));
  const { ch: oNews } = await subscribed(o, "news");
  const crossed = collect(oNews, "iso");
  const mine = once(again, "iso");
  await sdk.trigger("news", "iso", { app: 1 });
  await mine;
  const oGot = once(oNews, "iso2");
  const leakedToA = collect(again, "iso2");
  await makeSDK(other).trigger("news", "iso2", { app: 2 });
  assert.deepEqual(await oGot, { app: 2 });
  await sleep(200);
  assert.deepEqual(crossed, []);
  assert.deepEqual(leakedToA, []);
  return {};
});
