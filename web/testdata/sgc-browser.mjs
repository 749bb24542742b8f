// The sgc page scenario, run by web/browser_test.go (TestBrowserSGCPage):
//
//	node sgc-browser.mjs PAGE_URL BAD_PAGE_URL ARTIFACT_DIR GO_NAME PAGE_MESSAGE GO_MESSAGE NEWBIE
//
// PAGE_URL is testdata/sgc-page.html, a page written against sgc's browser
// API (classic scripts from /presence.esegece.com.js), with the user and
// password of a server that authenticates. In Chromium the page connects
// (credentials in sgc's /sgc/auth/url/ path), joins, subscribes to #lobby and
// lists its members (GO_NAME is there); "step: subscribed" lets the Go test
// publish GO_MESSAGE and make NEWBIE join #lobby and leave. The page then
// publishes PAGE_MESSAGE ("step: published"), and must receive GO_MESSAGE
// and NEWBIE's join, channel leave and leave. BAD_PAGE_URL has a wrong
// password: that page is refused and never gets a session. The last line
// is "browser: ok" or "browser: FAIL ...".
import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

const [pageURL, badURL, artifacts, goName, pageMessage, goMessage, newbie] = process.argv.slice(2);
if (!newbie) {
  console.log("browser: FAIL usage: node sgc-browser.mjs PAGE_URL BAD_PAGE_URL ARTIFACT_DIR GO_NAME PAGE_MESSAGE GO_MESSAGE NEWBIE");
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const problems = [];
const guard = setTimeout(() => {
  console.log("browser: FAIL the whole scenario took too long");
  process.exit(1);
}, 5 * STEP_MS);
let page;
try {
  await mkdir(artifacts, { recursive: true });
  const ctx = await browser.newContext();
  page = await ctx.newPage();
  page.on("pageerror", (err) => problems.push(`uncaught in the page: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error in the page: ${msg.text()}`);
  });
  await page.goto(pageURL);
  const state = () => page.evaluate(() => JSON.parse(JSON.stringify(window.state)));
  const s = await until("the page joins and lists #lobby", state, (s) => s.subscribed && Array.isArray(s.members));
  if (!s.opened || s.session.length !== 32) throw new Error(`no open event or session: ${JSON.stringify(s)}`);
  step("subscribed " + JSON.stringify({ me: s.me, members: s.members }));

  if ((await page.evaluate((t) => say(t), pageMessage)) !== true) throw new Error("publish was not sent");
  step("published");

  const want = [`online ${newbie}`, `join lobby ${newbie}`, `left lobby ${newbie}`, `offline ${newbie}`];
  const own = `lobby|${s.me.name}|${pageMessage}`;
  const got = await until(
    `${goName}'s message, the page's own and ${newbie}'s join and leave reach the page`,
    state,
    (s) => s.messages.includes(`lobby|${goName}|${goMessage}`) && s.messages.includes(own) && want.every((w) => s.events.includes(w)),
  );
  const order = want.map((w) => got.events.indexOf(w));
  if (order.some((i, k) => k > 0 && i < order[k - 1])) throw new Error(`member events out of order: ${JSON.stringify(got.events)}`);
  if ((await page.evaluate(() => socketState())) !== "open") throw new Error("the socket is not open");
  step("received");
  await page.screenshot({ path: join(artifacts, "browser-sgc-page.png") });

  // A wrong password: refused before the upgrade, no session ever.
  const bad = await ctx.newPage();
  await bad.goto(badURL);
  const b = await until("the page with a wrong password is refused", () => bad.evaluate(() => JSON.parse(JSON.stringify(window.state))), (s) => s.closed);
  if (b.session !== "" || b.opened) throw new Error(`a wrong password connected: ${JSON.stringify(b)}`);
  if ((await bad.evaluate(() => socketState())) !== "closed") throw new Error("the refused socket is not closed");
  step("refused");
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("browser: ok");
} catch (err) {
  console.log("browser: FAIL " + (err?.stack ?? err));
  await page?.screenshot({ path: join(artifacts, "browser-sgc-page-failed.png") }).catch(() => {});
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
  await browser.close();
}
