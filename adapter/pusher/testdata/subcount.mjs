// subscription_count with an app that sets subscription_count: every
// subscriber of a public or private channel hears the count as it changes
// (pusher-js: pusher:subscription_count and channel.subscriptionCount); a
// presence channel has none.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, sleep, main } from "./common.mjs";

// next waits for the subscription_count event with count n.
function count(ch, n, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${ch.name}: timed out waiting for subscription_count ${n}`)), ms);
    const h = (data) => {
      if (data.subscription_count !== n) return;
      clearTimeout(t);
      ch.unbind("pusher:subscription_count", h);
      resolve(data);
    };
    ch.bind("pusher:subscription_count", h);
  });
}

main(async () => {
  const a = await connected(client());
  const b = await connected(client());
  const c = await connected(client());

  // Bound before the subscribe: the count follows subscription_succeeded.
  const ca = a.subscribe("counted");
  let one = count(ca, 1);
  await once(ca, "pusher:subscription_succeeded");
  assert.deepEqual(await one, { subscription_count: 1 });
  assert.equal(ca.subscriptionCount, 1);

  const two = count(ca, 2);
  const cb = b.subscribe("counted");
  const twoB = count(cb, 2);
  await two;
  await twoB;

  // Private channels are counted too.
  const pa = a.subscribe("private-counted");
  const pa2 = count(pa, 2);
  await subscribed(c, "private-counted");
  await pa2;

  // Unsubscribe and disconnect count out.
  one = count(ca, 1);
  b.unsubscribe("counted");
  await one;
  const pa1 = count(pa, 1);
  c.disconnect();
  await pa1;
  assert.equal(pa.subscriptionCount, 1);

  // Presence channels carry their own count (members): no subscription_count.
  const pr = a.subscribe("presence-counted");
  const none = collect(pr, "pusher:subscription_count");
  await once(pr, "pusher:subscription_succeeded");
  await sleep(300);
  assert.deepEqual(none, []);
  return {};
});
