// User authentication: signin, sendToUser to every socket of the user,
// terminate_connections (4009, no
// retry), and a forged signin closed with 4009.
import assert from "node:assert/strict";
import { client, connected, once, collect, sleep, sdk, input, main } from "./common.mjs";

const u1 = { id: "u1", info: { name: "Una" } };

main(async () => {
  const t1 = await connected(client({ user: u1 }));
  const t2 = await connected(client({ user: u1 }));
  const other = await connected(client({ user: { id: "u2", info: {} } }));
  for (const c of [t1, t2, other]) c.signin();
  for (const c of [t1, t2, other]) await c.user.signinDonePromise;
  assert.equal(t1.user.user_data.id, "u1");
  await sleep(200); // pusher-js subscribes to #server-to-user-… after signin
  const n1 = once(t1.user, "notice");
  const n2 = once(t2.user, "notice");
  const n3 = collect(other.user, "notice");
  await sdk.sendToUser("u1", "notice", { n: 1 });
  assert.deepEqual(await Promise.all([n1, n2]), [{ n: 1 }, { n: 1 }]);
  await sleep(200);
  assert.deepEqual(n3, []);

  // (Someone else's user channel: pusher-js cannot even ask; the Go tests
  // send the raw subscribe.)
  // Terminate u1: both tabs get 4009 and stay down; u2 stays.
  const e1 = once(t1.connection, "error");
  const e2 = once(t2.connection, "error");
  await sdk.terminateUserConnections("u1");
  assert.equal((await e1).data.code, 4009);
  assert.equal((await e2).data.code, 4009);
  await sleep(1200);
  assert.notEqual(t1.connection.state, "connected");
  assert.notEqual(t2.connection.state, "connected");
  assert.equal(other.connection.state, "connected");

  // A forged signin.
  const forged = await connected(client({ signin: () => ({ auth: input.key + ":" + "f".repeat(64), user_data: JSON.stringify({ id: "evil" }) }) }));
  const fe = once(forged.connection, "error");
  forged.signin();
  assert.equal((await fe).data.code, 4009);
  await sleep(300);
  assert.notEqual(forged.connection.state, "connected");
  return {};
});
