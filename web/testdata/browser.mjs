// The browser scenario, run by web/browser_test.go:
//
//	node browser.mjs URL ARTIFACT_DIR IDLE_MS GO_NAME MESSAGE
//
// Two Chromium pages (alice and bob) log in on the demo page at URL into
// #lobby, where the Go client GO_NAME already is; alice says MESSAGE, bob
// invites the Go client to #side, alice's page is closed. It checks what
// each page shows; the Go test checks what the Go client receives. Each line on
// stdout that starts with "step: " marks a step the Go test may act on; the
// last line is "browser: ok", or "browser: FAIL ..." with the reason.
// Screenshots of both pages are written to ARTIFACT_DIR.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), driven by
// playwright-core; scripts/browser-deps installs both.
import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

const [url, artifacts, idleArg, goName, message] = process.argv.slice(2);
const idleMs = Number(idleArg);
if (!url || !artifacts || !(idleMs > 0) || !goName || !message) {
  console.log("browser: FAIL usage: node browser.mjs URL ARTIFACT_DIR IDLE_MS GO_NAME MESSAGE");
  process.exit(2);
}

// Generous: the machine may be a busy shared box running the race detector.
const STEP_MS = 20000;
const CHANNEL = "lobby";
const SIDE = "side";

const step = (what) => console.log("step: " + what);

// until polls read() until ok(value) holds, and throws with the last value
// seen when it does not within ms.
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
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last seen: ${JSON.stringify(last, null, 0)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// members lists a page's #members entries: the other members by name with
// their channel tags, and this page's own entry.
const members = (page) =>
  page.$$eval("#members li", (lis) =>
    lis.map((li) => ({
      name: li.querySelector(".name")?.textContent ?? "",
      self: li.classList.contains("self"),
      tags: [...li.querySelectorAll(".tag")].map((t) => t.textContent),
    })),
  );
const others = async (page) => (await members(page)).filter((m) => !m.self);
// notices lists the texts of the notices in a page's chat log; messages its
// messages, as {from, text}.
const notices = (page) => page.$$eval("#log .notice", (es) => es.map((e) => e.textContent));
const messages = (page) =>
  page.$$eval("#log .msg", (es) => es.map((e) => ({ from: e.querySelector(".from").textContent, text: e.lastChild.textContent })));

const sorted = (names) => [...names].sort().join(", ");

async function login(page, name) {
  await page.goto(url);
  await page.fill("#name", name);
  await page.fill("#info", "");
  await page.fill("#first-channel", CHANNEL);
  await page.click("#login-form button");
  await until(`${name}'s page goes online`, () => page.textContent("#status"), (s) => s === "online");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const pages = {};
const problems = [];
const guard = setTimeout(() => {
  console.log("browser: FAIL the whole scenario took too long");
  process.exit(1); // playwright kills the browser on exit
}, 6 * STEP_MS + idleMs);

try {
  await mkdir(artifacts, { recursive: true });
  // One browser context per user: separate storage, like two people.
  for (const name of ["alice", "bob"]) {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    pages[name] = await ctx.newPage();
    // An exception in the page, or the page's client reporting a bad frame
    // or a throwing listener, fails the scenario at the end.
    pages[name].on("pageerror", (err) => problems.push(`${name}'s page: uncaught ${err.message}`));
    pages[name].on("console", (msg) => {
      if (msg.text().startsWith("rollcall:")) problems.push(`${name}'s page: ${msg.text()}`);
    });
  }
  const { alice, bob } = pages;
  await login(alice, "alice");
  await login(bob, "bob");

  // Each page lists the other two, both in #lobby.
  for (const [page, want] of [
    [alice, ["bob", goName]],
    [bob, ["alice", goName]],
  ]) {
    await until(
      `${want.join(" and ")} listed in #${CHANNEL}`,
      () => others(page),
      (ms) => sorted(ms.map((m) => m.name)) === sorted(want) && ms.every((m) => m.tags.includes("#" + CHANNEL)),
    );
  }
  step("members listed");

  // A message typed in alice's page (Enter sends) appears in bob's.
  await alice.fill("#text", message);
  await alice.press("#text", "Enter");
  await until("alice's input cleared after sending", () => alice.inputValue("#text"), (v) => v === "");
  await until("alice's message in bob's page", () => messages(bob), (l) => l.some((m) => m.from === "alice" && m.text === message));
  step("message shown");

  // bob joins #side and invites the Go client by clicking its name; the Go
  // client accepts, bob's page says so and lists it in #side.
  await bob.fill("#channel-name", SIDE);
  await bob.press("#channel-name", "Enter");
  await until(`bob's page shows #${SIDE}`, () => bob.textContent("#title"), (t) => t === "#" + SIDE);
  await bob.locator("#members li.other", { hasText: goName }).click();
  await until("bob's page says it invited", () => notices(bob), (l) => l.includes(`You invited ${goName} to #${SIDE}.`));
  await until("bob's page shows the acceptance", () => notices(bob), (l) => l.includes(`${goName} accepted your invitation to #${SIDE}.`));
  await until(
    `${goName} listed in #${SIDE} in bob's page`,
    () => others(bob),
    (ms) => ms.some((m) => m.name === goName && m.tags.includes("#" + SIDE)),
  );
  step("invitation accepted");

  for (const [name, page] of Object.entries(pages)) await page.screenshot({ path: join(artifacts, `browser-${name}.png`) });

  // Closing alice's page removes her from bob's list within the idle timeout.
  step("closing alice");
  const closed = Date.now();
  await alice.close();
  delete pages.alice;
  await until("alice gone from bob's list", () => others(bob), (ms) => !ms.some((m) => m.name === "alice"), idleMs);
  step(`alice gone after ${Date.now() - closed} ms`);
  await bob.screenshot({ path: join(artifacts, "browser-bob-after-alice-left.png") });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("browser: ok");
} catch (err) {
  console.log("browser: FAIL " + (err?.stack ?? err));
  for (const [name, page] of Object.entries(pages)) {
    await page.screenshot({ path: join(artifacts, `browser-${name}-failed.png`) }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
  await browser.close();
}
