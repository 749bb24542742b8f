// Laravel Echo over pusher-js: join().here().joining().leaving(), and a
// whisper heard with listenForWhisper.
import assert from "node:assert/strict";
import Echo from "laravel-echo";
import Pusher from "pusher-js";
import { sdk, input, once, sleep, main } from "./common.mjs";

function echo(user) {
  return new Echo({
    broadcaster: "pusher",
    client: undefined,
    Pusher,
    key: input.key,
    cluster: "mt1",
    wsHost: input.host,
    wsPort: Number(input.port),
    forceTLS: false,
    enabledTransports: ["ws"],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) =>
        cb(null, sdk.authorizeChannel(socketId, channelName, { user_id: user.id, user_info: user.info })),
    },
  });
}

function waiter() {
  let resolve;
  const p = new Promise((r) => (resolve = r));
  return { p, resolve };
}

main(async () => {
  const alice = { id: 1, info: { name: "Alice" } }; // Laravel signs integer ids
  const bob = { id: 2, info: { name: "Bob" } };
  const e1 = echo(alice);
  const here1 = waiter(), joining = waiter(), leaving = waiter(), whisper = waiter();
  e1.join("room")
    .here((users) => here1.resolve(users))
    .joining((u) => joining.resolve(u))
    .leaving((u) => leaving.resolve(u))
    .listenForWhisper("typing", (e) => whisper.resolve(e));
  assert.deepEqual(await here1.p, [{ name: "Alice" }]);

  const e2 = echo(bob);
  const here2 = waiter();
  const ch2 = e2.join("room").here((users) => here2.resolve(users));
  const users = await here2.p;
  users.sort((a, b) => (a.name < b.name ? -1 : 1));
  assert.deepEqual(users, [{ name: "Alice" }, { name: "Bob" }]);
  assert.deepEqual(await joining.p, { name: "Bob" });

  ch2.whisper("typing", { typing: true });
  assert.deepEqual(await whisper.p, { typing: true });

  e2.leave("room");
  assert.deepEqual(await leaving.p, { name: "Bob" });
  e1.disconnect();
  e2.disconnect();
  return {};
});
