// Authorized connections (user_authentication_timeout): a socket that
// neither signs in nor subscribes to a private or presence channel in time
// gets 4009 and stays closed; the others stay.
import assert from "node:assert/strict";
import { client, connected, subscribed, once, sleep, main } from "./common.mjs";

main(async () => {
  const signed = await connected(client({ user: { id: "u1", info: {} } }));
  signed.signin();
  await signed.user.signinDonePromise;
  const priv = await connected(client());
  await subscribed(priv, "private-ok");
  const pres = await connected(client({ user: { id: "u2", info: {} } }));
  await subscribed(pres, "presence-ok");

  // Connected last, so its deadline is the last of all.
  const idle = await connected(client());
  await subscribed(idle, "public-only");
  const err = await once(idle.connection, "error", 10000);
  assert.equal(err.data.code, 4009);
  await sleep(300);
  assert.notEqual(idle.connection.state, "connected");
  for (const c of [signed, priv, pres]) assert.equal(c.connection.state, "connected");
  return {};
});
