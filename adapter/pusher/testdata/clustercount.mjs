// subscription_count over two rollcall nodes (input as cluster.mjs's; the
// app sets subscription_count): pusher-js clients on both nodes in one
// public channel each hear the cluster's count, whichever node's socket
// changed it. Every change is made after every subscriber heard the last
// one, so that each webhook count is unambiguous (cmd/rollcall's
// TestClusterPusherSubscriptionCount checks the webhooks).
import assert from "node:assert/strict";
import { client, connected, once, input, main } from "./common.mjs";

const nodeB = { host: input.hostB, port: input.portB };

// count waits for the pusher:subscription_count event with count n.
function count(ch, n, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${ch.name}: timed out waiting for subscription_count ${n} (last ${ch.subscriptionCount})`)), ms);
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
  const b = await connected(client(nodeB));
  const c = await connected(client(nodeB));

  // a alone, on node A.
  const ca = a.subscribe("counted");
  const one = count(ca, 1);
  await once(ca, "pusher:subscription_succeeded");
  await one;

  // b subscribes on node B: a hears 2 from the other node.
  const cb = b.subscribe("counted");
  await Promise.all([count(ca, 2), count(cb, 2)]);

  // c too, on node B.
  const cc = c.subscribe("counted");
  await Promise.all([count(ca, 3), count(cb, 3), count(cc, 3)]);
  for (const ch of [ca, cb, cc]) assert.equal(ch.subscriptionCount, 3);

  // b leaves: a, on the other node, and c hear 2.
  let wait = [count(ca, 2), count(cc, 2)];
  b.unsubscribe("counted");
  await Promise.all(wait);

  // a leaves: c hears 1.
  wait = [count(cc, 1)];
  a.unsubscribe("counted");
  await Promise.all(wait);

  c.unsubscribe("counted");
  return {};
});
