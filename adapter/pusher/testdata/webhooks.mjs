// Checks the webhook requests the Go test captured with the SDK's own
// webhook check, and returns their events in order.
import assert from "node:assert/strict";
import { sdk, makeSDK, input, main } from "./common.mjs";

main(async () => {
  const events = [];
  for (const r of input.requests) {
    assert.equal(r.headers["content-type"], "application/json");
    const wh = sdk.webhook({ headers: r.headers, rawBody: r.body });
    assert.ok(wh.isValid(), "webhook signature: " + JSON.stringify(r.headers));
    assert.ok(!makeSDK({ secret: "wrong" }).webhook({ headers: r.headers, rawBody: r.body }).isValid());
    assert.ok(wh.getTime() instanceof Date);
    events.push(...wh.getEvents());
  }
  return { events };
});
