// Opens the demo page in headless Chromium, moves the mouse, clicks the
// call to action and scrolls, changes the route with history.pushState to
// /app/pricing and moves the mouse again, then prints what the page knows as JSON:
// {visitor, cta: {x, y, w, h}, pending}. Usage:
//   node drive.mjs URL CHROMIUM_PATH [SPKI_SHA256_BASE64]
// SPKI: the one server public key to trust besides the system's CAs (a
// test's certificate), by Chromium's --ignore-certificate-errors-spki-list;
// any other certificate error still fails the page.
import { chromium } from "playwright-core";

const [url, executablePath, spki] = process.argv.slice(2);
if (!url || !executablePath) {
  console.error("usage: node drive.mjs URL CHROMIUM_PATH [SPKI_SHA256_BASE64]");
  process.exit(2);
}
const args = ["--no-sandbox", "--disable-gpu"];
if (spki) args.push("--ignore-certificate-errors-spki-list=" + spki);
const browser = await chromium.launch({ executablePath, headless: true, args });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (m) => console.error("page:", m.text()));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.GaleTracker && window.GaleTracker.visitor);
  // A path across the hero, in small steps (each a mousemove).
  await page.mouse.move(100, 100);
  await page.mouse.move(600, 300, { steps: 25 });
  await page.waitForTimeout(150);
  const box = await page.locator("#cta").boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy, { steps: 20 });
  await page.waitForTimeout(150);
  await page.mouse.click(cx, cy);
  await page.mouse.wheel(0, 900);
  await page.waitForTimeout(400);
  // A single-page app's route change: a new page view, and the events
  // after it are on the new path.
  await page.evaluate(() => history.pushState({}, "", "/app/pricing"));
  await page.mouse.move(300, 200, { steps: 10 });
  await page.waitForTimeout(150);
  await page.evaluate(() => window.GaleTracker.flush());
  await page.waitForFunction(() => window.GaleTracker.pending() === 0, null, { timeout: 10000 });
  await page.waitForTimeout(300); // the last request's answer
  const out = await page.evaluate(() => ({ visitor: window.GaleTracker.visitor, pending: window.GaleTracker.pending(), dropped: window.GaleTracker.dropped(), scrollY: window.scrollY }));
  out.cta = { x: box.x, y: box.y, w: box.width, h: box.height };
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
