// Unit tests for dashboard.js: node --test web/static/ (Node 20, no packages).
import { test } from "node:test";
import assert from "node:assert/strict";
import { rates, formatNumber, formatDuration, SSEParser, History } from "./dashboard.js";

const stats = (uptime, over = {}) => ({
  started: "2025-01-01T00:00:00Z",
  uptime_seconds: uptime,
  messages_in: 0,
  messages_out: 0,
  publishes: 0,
  errors: 0,
  ...over,
});

test("rates are counter deltas over the time between snapshots", () => {
  const r = rates(stats(10, { messages_in: 100, messages_out: 400, publishes: 10, errors: 1 }),
    stats(12, { messages_in: 150, messages_out: 1400, publishes: 20, errors: 1 }));
  assert.deepEqual(r, { messages_in: 25, messages_out: 500, publishes: 5, errors: 0 });
});

test("no rate without an earlier snapshot, without elapsed time, or across a restart", () => {
  assert.equal(rates(null, stats(1)), null);
  assert.equal(rates(stats(5), stats(5)), null);
  assert.equal(rates(stats(6), stats(5)), null);
  assert.equal(rates(stats(5, { messages_in: 900 }), stats(1, { started: "2025-01-02T00:00:00Z", messages_in: 3 })), null);
});

test("a rate is never negative", () => {
  assert.equal(rates(stats(1, { errors: 5 }), stats(2, { errors: 4 })).errors, 0);
});

test("formatNumber", () => {
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(7), "7");
  assert.equal(formatNumber(2.46), "2.5");
  assert.equal(formatNumber(0.04), "0");
  assert.equal(formatNumber(999), "999");
  assert.equal(formatNumber(12.6), "13");
  assert.equal(formatNumber(1234), "1.2k");
  assert.equal(formatNumber(3_450_000), "3.5M");
  assert.equal(formatNumber(NaN), "–");
});

test("formatDuration shows the two largest units", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(42.9), "42s");
  assert.equal(formatDuration(303), "5m 3s");
  assert.equal(formatDuration(7620), "2h 7m");
  assert.equal(formatDuration(3600), "1h");
  assert.equal(formatDuration(4 * 86400 + 3 * 3600 + 59), "4d 3h");
});

test("SSEParser returns whole events, whatever the chunking", () => {
  const stream = 'event: snapshot\ndata: {"a":1}\n\n: a comment\r\ndata: x\r\ndata:y\r\n\r\nevent: other\rdata: z\r\r\n'; // a lone \r at the end could begin a \r\n
  const want = [
    { event: "snapshot", data: '{"a":1}' },
    { event: "message", data: "x\ny" },
    { event: "other", data: "z" },
  ];
  assert.deepEqual(new SSEParser().push(stream), want);
  for (const size of [1, 2, 3, 7]) {
    const p = new SSEParser();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
    assert.deepEqual(got, want, `chunks of ${size}`);
  }
});

test("SSEParser waits for the blank line and ignores events without data", () => {
  const p = new SSEParser();
  assert.deepEqual(p.push("event: snapshot\ndata: 1\n"), []);
  assert.deepEqual(p.push("\n"), [{ event: "snapshot", data: "1" }]);
  assert.deepEqual(p.push("event: ping\n\n"), []);
  assert.deepEqual(p.push("data: 2\n\n"), [{ event: "message", data: "2" }], "the event name does not carry over");
});

test("History keeps the last values and draws them right-aligned", () => {
  const h = new History(3);
  assert.equal(h.points(100, 10), "");
  h.push(5);
  assert.equal(h.points(100, 10), "100,0");
  for (const v of [0, 10, 5]) h.push(v);
  assert.deepEqual(h.values, [0, 10, 5]);
  assert.equal(h.points(100, 10), "0,10 50,0 100,5");
  const low = new History(2);
  low.push(0.5);
  low.push(0);
  assert.equal(low.points(10, 10), "0,5 10,10", "the scale is at least 1");
  assert.equal(low.points(10, 10, 2), "0,7.5 10,10", "a shared scale");
});
