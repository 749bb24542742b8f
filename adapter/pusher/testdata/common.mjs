// Shared helpers of the Node conformance scripts that adapter/pusher's Go
// tests run against a real rollcall server (server.New over loopback).
// Each script reads its input (JSON on stdin: host, port, appId, key,
// secret, masterKey, other app credentials), asserts with node:assert, and
// prints one JSON object on stdout; a failed assertion exits non-zero with
// the stack on stderr.
import Pusher from "pusher-js";
import PusherSDK from "pusher";
import { readFileSync } from "node:fs";

export const input = JSON.parse(readFileSync(0, "utf8"));

export function makeSDK({ appId = input.appId, key = input.key, secret = input.secret, host = input.host, port = input.port } = {}) {
  return new PusherSDK({
    appId, key, secret, host, port, useTLS: false,
    encryptionMasterKeyBase64: input.masterKey,
  });
}
export const sdk = makeSDK();

const clients = [];

// client returns a pusher-js client of the app (key, secret), signing
// channel auth and user auth with the real SDK. user: {id, info} is the
// presence user and the signin user. authFor(channel) may return a forged
// auth value instead. host and port name another server (a cluster node).
export function client({ user = { id: "u", info: { name: "U" } }, key = input.key, secret = input.secret, appId = input.appId, authFor, signin, host = input.host, port = input.port } = {}) {
  const s = makeSDK({ appId, key, secret });
  const c = new Pusher(key, {
    cluster: "mt1",
    wsHost: host,
    wsPort: Number(port),
    forceTLS: false,
    enabledTransports: ["ws"],
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        try {
          const forged = authFor && authFor(channelName, socketId);
          if (forged) return cb(null, forged);
          cb(null, channelName.startsWith("presence-")
            ? s.authorizeChannel(socketId, channelName, { user_id: user.id, user_info: user.info })
            : s.authorizeChannel(socketId, channelName));
        } catch (e) {
          cb(e, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, cb) => {
        if (signin) return cb(null, signin(socketId));
        cb(null, s.authenticateUser(socketId, { id: String(user.id), user_info: user.info }));
      },
    },
  });
  clients.push(c);
  return c;
}

// once resolves with the data of the first emission of event on a
// pusher-js emitter (connection, channel, user), rejecting after ms; with
// withMeta, with {data, meta} (a client event's user_id is in meta).
export function once(emitter, event, ms = 5000, withMeta = false) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("timed out waiting for " + event)), ms);
    const h = (data, meta) => {
      clearTimeout(t);
      emitter.unbind(event, h);
      resolve(withMeta ? { data, meta } : data);
    };
    emitter.bind(event, h);
  });
}

export async function connected(c) {
  if (c.connection.state !== "connected") await once(c.connection, "connected");
  return c;
}

export async function subscribed(c, name) {
  const ch = c.subscribe(name);
  const members = await once(ch, "pusher:subscription_succeeded");
  return { ch, members };
}

// collect records the data of every emission of event on emitter.
export function collect(emitter, event) {
  const got = [];
  emitter.bind(event, (data) => got.push(data));
  return got;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function memberList(members) {
  const list = [];
  members.each((m) => list.push({ id: String(m.id), info: m.info }));
  list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return list;
}

export async function main(fn) {
  const timer = setTimeout(() => {
    console.error("script timed out");
    process.exit(2);
  }, 30000);
  try {
    const out = await fn();
    for (const c of clients) c.disconnect();
    clearTimeout(timer);
    process.stdout.write(JSON.stringify(out ?? {}) + "\n");
    process.exit(0);
  } catch (e) {
    console.error(e && e.stack ? e.stack : String(e));
    process.exit(1);
  }
}
