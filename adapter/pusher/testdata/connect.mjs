// Connecting: connection_established with a valid socket id, pings kept up
// past several activity timeouts (the server sends activity_timeout 1),
// and an unknown app key refused with 4001 and no retry.
import assert from "node:assert/strict";
import { client, connected, once, sleep, main } from "./common.mjs";

main(async () => {
  const c = await connected(client());
  assert.match(c.connection.socket_id, /^\d+\.\d+$/);
  const changes = [];
  c.connection.bind("state_change", (s) => changes.push(s.current));
  await sleep(3500); // three activity timeouts: pusher-js pings, we pong
  assert.equal(c.connection.state, "connected");
  assert.deepEqual(changes, []);

  const bad = client({ key: "no-such-key" });
  const err = await once(bad.connection, "error");
  // Before connection_established pusher-js wraps the pusher:error.
  assert.equal(err.type, "WebSocketError");
  assert.equal(err.error.data.code, 4001);
  const states = [];
  bad.connection.bind("state_change", (s) => states.push(s.current));
  await sleep(1500);
  assert.notEqual(bad.connection.state, "connected");
  assert.ok(!states.includes("connected"), "no retry after 4001: " + states);
  return { socketId: c.connection.socket_id, badState: bad.connection.state };
});
