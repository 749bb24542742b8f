// The sgc stand-in scenario, run by web/sgcbrowser_test.go
// (TestBrowserSGCStandIn):
//
//	node sgc-standin.mjs PAGE_URL ARTIFACT_DIR GO_NAME
//
// PAGE_URL is testdata/sgc-standin.html, a page written only against sgc's
// browser API, on a server that authenticates. In Chromium the page finds
// the base library's globals, connects through a host ending in "/" (so
// "//sgc/auth/url/…"), joins, subscribes to #lobby and lists it with
// send(method, member, channel): "step: subscribed" (GO_NAME is there). Its
// plain sgcWebSocket gets the session frame as a message event and is
// closed cleanly (1003) after sendbin. The Go test then restarts the
// server; the page sees a clean 1001 close, calls open(), gets a second
// session, joins and subscribes again: "step: rejoined". The presence
// client never fires message. The last line is "browser: ok" or
// "browser: FAIL ...".
import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

const [pageURL, artifacts, goName] = process.argv.slice(2);
if (!goName) {
  console.log("browser: FAIL usage: node sgc-standin.mjs PAGE_URL ARTIFACT_DIR GO_NAME");
  process.exit(2);
}
const STEP_MS = 20000;
const step = (what) => console.log("step: " + what);

async function until(what, read, ok, ms = STEP_MS) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last seen: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function check(ok, what, s) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(s)}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const problems = [];
const guard = setTimeout(() => {
  console.log("browser: FAIL the whole scenario took too long");
  process.exit(1);
}, 4 * STEP_MS);
let page;
try {
  await mkdir(artifacts, { recursive: true });
  page = await (await browser.newContext()).newPage();
  page.on("pageerror", (err) => problems.push(`uncaught in the page: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error in the page: ${msg.text()}`);
  });
  await page.goto(pageURL);
  const state = () => page.evaluate(() => JSON.parse(JSON.stringify(window.state)));

  let s = await until("the page joins and lists #lobby", state, (s) => s.subscribed && Array.isArray(s.members));
  const g = s.globals;
  check(g.guid && g.encodeFlag && g.encode === "sgc@b64:aGk=" && g.decode === "hi" && g.sgcWebSocket, "the base library's globals", g);
  check(s.host.endsWith("/") && s.urls.length === 1 && s.urls[0].includes("//sgc/auth/url/"), "the host with a trailing slash", s);
  check(s.subprotocol === "presence.esegece.com" && s.protocol === "presence.esegece.com", "subprotocol", s);
  check(s.opens === 1 && s.sessions.length === 1 && s.sessions[0].length === 32 && s.closes.length === 0, "one open, one session", s);
  check(s.members.includes(goName), `${goName} in #lobby`, s.members);
  step("subscribed " + JSON.stringify({ me: s.me, members: s.members }));

  s = await until("the plain sgcWebSocket's message and close", state, (s) => s.raw.close !== null);
  const r = s.raw;
  check(r.opened && r.messages.length === 1 && JSON.parse(r.messages[0]).method === "sgc@presence@session", "its message event", r);
  check(r.close.code === 1003 && r.close.clean === true, "a clean 1003 after sendbin", r);
  step("raw");

  s = await until("the page reconnects with open() after the restart", state, (s) => s.sessions.length === 2 && s.subscribed && Array.isArray(s.members));
  check(s.closes.length === 1 && s.closes[0].code === 1001 && s.closes[0].clean === true, "a clean 1001 close", s.closes);
  check(s.opens === 2 && s.sessions[0] !== s.sessions[1] && s.urls[1] === s.urls[0], "a second open and session", s);
  check(s.messages === 0, "no message event on sgcws_presence", s);
  step("rejoined " + JSON.stringify({ me: s.me, members: s.members }));
  await page.screenshot({ path: join(artifacts, "browser-sgc-standin.png") });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("browser: ok");
} catch (err) {
  console.log("browser: FAIL " + (err?.stack ?? err));
  await page?.screenshot({ path: join(artifacts, "browser-sgc-standin-failed.png") }).catch(() => {});
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
  await browser.close();
}
