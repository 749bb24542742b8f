// Interop driver for interop_test.go: runs the real `pusher` server SDK (npm
// pusher 5.x) and prints, as one JSON object on stdout, what it produces.
// Input (JSON on stdin): {appId, key, secret, host, port, socketId,
// masterKeyBase64, webhook: {body, signature}}. The SDK's HTTP calls go to
// host:port, a loopback httptest server of the Go test that records them.
import Pusher from "pusher";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const pusher = new Pusher({
  appId: input.appId,
  key: input.key,
  secret: input.secret,
  host: input.host,
  port: input.port,
  useTLS: false,
  encryptionMasterKeyBase64: input.masterKeyBase64,
});
const sid = input.socketId;
const out = {};

// Channel authorization and user authentication (§2.3, §4).
out.private = pusher.authorizeChannel(sid, "private-orders");
out.encrypted = pusher.authorizeChannel(sid, "private-encrypted-vault");
out.encryptedSharedSecret = Buffer.from(pusher.channelSharedSecret("private-encrypted-vault")).toString("base64");
out.presenceString = pusher.authorizeChannel(sid, "presence-room", {
  user_id: "u1",
  user_info: { name: "Zoë \"Z\"", html: "<b>&</b>", emoji: "😀", nested: { list: [1, 2.5, null, true] } },
});
// Laravel signs integer user ids.
out.presenceInt = pusher.authorizeChannel(sid, "presence-room", { user_id: 42, user_info: { name: "Bob" } });
out.presenceNoInfo = pusher.authorizeChannel(sid, "presence-cache-room", { user_id: "7" });
out.signin = pusher.authenticateUser(sid, { id: "u1", user_info: { name: "Ann" }, watchlist: ["u2", "u3"] });

// Signed HTTP API calls, in this order (the Go test matches them by order).
await pusher.trigger("my-channel", "my-event", { message: "hello world" });
await pusher.trigger(["a-1", "presence-b"], "ev", "plain string", { socket_id: "1.2", info: "user_count,subscription_count" });
await pusher.triggerBatch([
  { channel: "c1", name: "e1", data: { x: 1 } },
  { channel: "c2", name: "e2", data: "s" },
]);
await pusher.get({ path: "/channels", params: { filter_by_prefix: "presence-", info: "user_count" } });
await pusher.get({ path: "/channels/presence-room/users" });
await pusher.sendToUser("u1", "notice", { n: 1 });
await pusher.terminateUserConnections("u1");
await pusher.terminateUserConnections("auth0|1");

// Webhooks made by the Go code (§6).
const wh = input.webhook;
const headers = (key, sig, ct) => ({ "x-pusher-key": key, "x-pusher-signature": sig, "content-type": ct });
const hook = pusher.webhook({ headers: headers(input.key, wh.signature, "application/json"), rawBody: wh.body });
out.webhook = {
  valid: hook.isValid(),
  events: hook.isValid() ? hook.getEvents() : null,
  time: hook.isValid() ? hook.getTime().getTime() : null,
  tamperedValid: pusher.webhook({ headers: headers(input.key, wh.signature, "application/json"), rawBody: wh.body.replace("vacated", "occupied") }).isValid(),
  wrongKeyValid: pusher.webhook({ headers: headers("other-key", wh.signature, "application/json"), rawBody: wh.body }).isValid(),
  charsetValid: pusher.webhook({ headers: headers(input.key, wh.signature, "application/json; charset=utf-8"), rawBody: wh.body }).isValid(),
};

process.stdout.write(JSON.stringify(out) + "\n");
