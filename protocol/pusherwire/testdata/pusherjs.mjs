// Client interop driver for pusherjs_test.go: a real pusher-js 8.x client
// (Node build) connects to the Go test's loopback WebSocket server, which
// answers with frames encoded by this package; auth values come from the real
// `pusher` server SDK. Prints, as one JSON object on stdout, what pusher-js
// made of it all. Input (JSON on stdin): {appId, key, secret, host, port}.
import Pusher from "pusher-js";
import PusherSDK from "pusher";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const sdk = new PusherSDK({ appId: input.appId, key: input.key, secret: input.secret, host: input.host, port: input.port, useTLS: false });
const out = { errors: [], events: {} };
const expected = ["public", "public-plain", "pinged", "private-client", "presence-client", "presence-succeeded", "presence-added", "presence-removed", "user", "error", "cache-miss", "subscription-error"];
const record = (name, value) => {
  out.events[name] = value;
  if (expected.every((n) => n in out.events)) finish(0);
};
let done = false;
function finish(code) {
  if (done) return;
  done = true;
  out.state = client.connection.state;
  out.socketId = client.connection.socket_id;
  client.disconnect();
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(code);
}
setTimeout(() => { out.timeout = true; finish(1); }, 15000);

const client = new Pusher(input.key, {
  cluster: "mt1",
  wsHost: input.host,
  wsPort: Number(input.port),
  forceTLS: false,
  enabledTransports: ["ws"],
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, cb) =>
      cb(null, channelName === "private-denied"
        ? { auth: input.key + ":0000" }
        : channelName.startsWith("presence-")
        ? sdk.authorizeChannel(socketId, channelName, { user_id: 42, user_info: { name: "Bob" } })
        : sdk.authorizeChannel(socketId, channelName)),
  },
  userAuthentication: {
    customHandler: ({ socketId }, cb) => cb(null, sdk.authenticateUser(socketId, { id: "u1", user_info: { name: "Ann" } })),
  },
});
client.connection.bind("error", (e) => {
  if (e && e.type === "PusherError") record("error", e.data);
  else out.errors.push(String(e && (e.error || e.type)));
});
client.connection.bind("connected", () => {
  const pub = client.subscribe("public-news");
  pub.bind("ev", (data) => record("public", data));
  pub.bind("ev-plain", (data) => record("public-plain", data));
  pub.bind("after-ping", (data) => record("pinged", data));
  const priv = client.subscribe("private-orders");
  priv.bind("client-typing", (data, meta) => record("private-client", { data, meta }));
  const pres = client.subscribe("presence-room");
  pres.bind("pusher:subscription_succeeded", (members) => {
    const list = [];
    members.each((m) => list.push(m));
    list.sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
    record("presence-succeeded", { count: members.count, me: members.me, list });
  });
  pres.bind("pusher:member_added", (m) => record("presence-added", m));
  pres.bind("pusher:member_removed", (m) => record("presence-removed", m));
  pres.bind("client-typing", (data, meta) => record("presence-client", { data, meta }));
  const cache = client.subscribe("cache-scores");
  cache.bind("pusher:cache_miss", () => record("cache-miss", true));
  client.subscribe("private-denied").bind("pusher:subscription_error", (e) => record("subscription-error", e));
  client.user.bind("notice", (data) => record("user", data));
  client.signin();
});
