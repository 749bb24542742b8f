// Member updates reach pusher-js as rollcall:member_updated: two pusher-js
// users (Pia, Pete) and an sgc member (the Go test's) share
// presence-lobby; the script updates the sgc member and Pete through
// rollcall's HTTP API (POST /api/members/{id}, Engine.UpdateMember) and Pia
// hears each with {user_id, user_info} as member_added has it, and Pete
// hears his own. channel.members is left as it was: same ids, same count,
// the info of the join, and no member_added or member_removed.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, collect, memberList, main, input } from "./common.mjs";

const EVENT = "rollcall:member_updated";

// updateOf resolves with the data of the first EVENT about user id on ch
// (each socket hears the updates in order, but not at the same moment as
// the other sockets).
function updateOf(ch, id, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timed out waiting for the update of " + id)), ms);
    const h = (data, meta) => {
      if (data.user_id !== id) return;
      clearTimeout(t);
      ch.unbind(EVENT, h);
      resolve({ data, meta });
    };
    ch.bind(EVENT, h);
  });
}

async function update(id, name, info) {
  const res = await fetch(`http://${input.host}:${input.port}/api/members/${encodeURIComponent(id)}`, {
    method: "POST",
    headers: { Authorization: "Bearer " + input.apiKey },
    body: JSON.stringify({ name, info }),
  });
  assert.equal(res.status, 200, await res.text());
}

main(async () => {
  const pia = await connected(client({ user: { id: "pia", info: { name: "Pia", color: "red" } } }));
  const { ch, members } = await subscribed(pia, "presence-lobby");
  const pete = await connected(client({ user: { id: "pete", info: { name: "Pete" } } }));
  const joined = once(ch, "pusher:member_added");
  const { ch: peteCh } = await subscribed(pete, "presence-lobby");
  assert.equal((await joined).id, "pete");
  const before = memberList(members);
  assert.equal(members.count, 3);

  const added = collect(ch, "pusher:member_added");
  const removed = collect(ch, "pusher:member_removed");
  const heard = collect(ch, EVENT);

  const sam = { user_id: input.sgcID, user_info: { name: "Sam", info: "now busy" } };
  let got = updateOf(ch, input.sgcID);
  let own = updateOf(peteCh, input.sgcID);
  await update(input.sgcID, "Sam", "now busy");
  assert.deepEqual(await got, { data: sam, meta: {} });
  assert.deepEqual((await own).data, sam);

  // A Pusher user's new user_info: its JSON as info, its name as name. He
  // hears his own update too.
  got = updateOf(ch, "pete");
  own = updateOf(peteCh, "pete");
  await update("pete", "Peter", JSON.stringify({ name: "Peter", color: "blue" }));
  const want = { user_id: "pete", user_info: { name: "Peter", color: "blue" } };
  assert.deepEqual((await got).data, want);
  assert.deepEqual((await own).data, want);

  assert.deepEqual(heard, [sam, want]);
  assert.deepEqual(added, []);
  assert.deepEqual(removed, []);
  assert.equal(members.count, 3);
  assert.deepEqual(memberList(members), before);
  return { members: before };
});
