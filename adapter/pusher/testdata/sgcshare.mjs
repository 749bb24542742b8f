// One engine: a pusher-js client of the default app and an sgc Go client
// share presence-lobby. pusher-js sees the sgc member (user_id = its id,
// user_info {name, info}); it whispers, and waits for the sgc client's
// publish, which arrives as client-message with the sgc member's user_id.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, memberList, main, input } from "./common.mjs";

main(async () => {
  const c = await connected(client({ user: { id: "pjs", info: { name: "Pia", color: "red" } } }));
  const { ch, members } = await subscribed(c, "presence-lobby");
  const list = memberList(members);
  assert.deepEqual(list, [
    { id: "pjs", info: { name: "Pia", color: "red" } },
    { id: input.sgcID, info: { name: "Sam", info: "sgc info" } },
  ].sort((a, b) => (a.id < b.id ? -1 : 1)));
  const msg = once(ch, "client-message", 10000, true);
  // Listening for the leave before it can come: the Go test closes the sgc
  // client as soon as it has heard its own publish, and the leave may then
  // arrive in the same read as the publish.
  const left = once(ch, "pusher:member_removed", 10000);
  ch.trigger("client-hello", { hi: 1 });
  const got = await msg;
  assert.deepEqual(got, { data: "hello from sgc", meta: { user_id: input.sgcID } });
  assert.equal((await left).id, input.sgcID);
  return { list };
});
