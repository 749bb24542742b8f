// Presence: two users, two tabs of one user (one member, no second
// member_added, member_removed only after the last tab), an integer
// user_id as Laravel signs it, and a user_info over the limit.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, sleep, memberList, main } from "./common.mjs";

const alice = { id: "alice", info: { name: "Alice" } };
const bob = { id: "bob", info: { name: "Bob" } };

main(async () => {
  const a1 = await connected(client({ user: alice }));
  const { ch: ch1, members: m1 } = await subscribed(a1, "presence-room");
  assert.equal(m1.count, 1);
  assert.equal(m1.me.id, "alice");
  const addedAtA = collect(ch1, "pusher:member_added");
  const removedAtA = collect(ch1, "pusher:member_removed");

  const b = await connected(client({ user: bob }));
  const { ch: chB, members: mB } = await subscribed(b, "presence-room");
  assert.equal(mB.count, 2);
  assert.deepEqual(memberList(mB), [{ id: "alice", info: { name: "Alice" } }, { id: "bob", info: { name: "Bob" } }]);
  const addedAtB = collect(chB, "pusher:member_added");
  const removedAtB = collect(chB, "pusher:member_removed");
  await sleep(100);
  assert.deepEqual(addedAtA, [{ id: "bob", info: { name: "Bob" } }]);

  // Alice's second tab: one member still.
  const a2 = await connected(client({ user: alice }));
  const { members: m2 } = await subscribed(a2, "presence-room");
  assert.equal(m2.count, 2);
  await sleep(200);
  assert.deepEqual(addedAtB, [], "no member_added for a second tab");
  // The first tab leaves by unsubscribing: alice is still there.
  a1.unsubscribe("presence-room");
  await sleep(200);
  assert.deepEqual(removedAtB, [], "no member_removed while a tab remains");
  // The last tab goes away: now she left.
  a2.disconnect();
  const gone = await once(chB, "pusher:member_removed");
  assert.equal(gone.id, "alice");

  // An integer user_id.
  const carol = await connected(client({ user: { id: 42, info: { name: "Carol" } } }));
  const addedNum = once(chB, "pusher:member_added");
  const { members: mC } = await subscribed(carol, "presence-room");
  assert.equal(mC.me.id, 42);
  assert.equal(mC.count, 2);
  assert.deepEqual(await addedNum, { id: "42", info: { name: "Carol" } });

  // user_info over the limit (1 KB by default).
  const big = await connected(client({ user: { id: "big", info: { name: "x".repeat(2000) } } }));
  const err = await once(big.subscribe("presence-room"), "pusher:subscription_error");
  assert.equal(err.type, "LimitReached");
  await sleep(100);
  assert.equal(chB.members.count, 2);
  return {};
});
