// The end-to-end test of the dashboard (../dashboard_browser_test.go):
// opens the demo page in headless Chromium, moves the mouse along a path
// (across the headline, then a dwell on the call to action), clicks the
// call to action, then opens the dashboard and waits until it shows the
// visit. Prints JSON: the events the tracker sent (read from its requests),
// the dashboard's text, where the page's #cta is drawn in the dashboard,
// and the heat canvas sampled at page coordinates. Usage:
//   node dashboard.mjs DEMO_URL DASHBOARD_URL CHROMIUM_PATH [SCREENSHOT.png [PASSWORD]]
// PASSWORD: the dashboard's (dashboard.password_file), answered when the
// dashboard asks for it (HTTP Basic authentication), as a user would.
import { chromium } from "playwright-core";

const [demoURL, dashURL, executablePath, screenshot, password] = process.argv.slice(2);
if (!demoURL || !dashURL || !executablePath) {
  console.error("usage: node dashboard.mjs DEMO_URL DASHBOARD_URL CHROMIUM_PATH [SCREENSHOT.png [PASSWORD]]");
  process.exit(2);
}
const VW = 1280, VH = 800; // the visitor's viewport
const STEP = 4; // page pixels between canvas samples

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
try {
  // ---- the visit ----
  const demo = await browser.newPage({ viewport: { width: VW, height: VH } });
  demo.on("console", (m) => console.error("demo page:", m.text()));
  const sent = [];
  demo.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/events") {
      const body = JSON.parse(r.postData()); // {events, sent}, or an array
      sent.push(...(Array.isArray(body) ? body : body.events));
    }
  });
  await demo.goto(demoURL, { waitUntil: "load" });
  await demo.waitForFunction(() => window.GaleTracker && window.GaleTracker.visitor);
  const box = await demo.locator("#cta").boundingBox();
  const cta = { x: box.x, y: box.y, w: box.width, h: box.height };
  // Read the headline, left to right along its two lines, then the first
  // line of the text below, at a reading pace (the tracker sends a move at
  // most every 100 ms).
  async function glide(x, y, steps) {
    for (let i = 1; i <= steps; i++) {
      await demo.mouse.move(glide.x + (x - glide.x) * i / steps, glide.y + (y - glide.y) * i / steps);
      await demo.waitForTimeout(60);
    }
    glide.x = x;
    glide.y = y;
  }
  const h1 = await demo.locator("section.hero h1").boundingBox();
  const p = await demo.locator("section.hero p").boundingBox();
  glide.x = h1.x + 20;
  glide.y = h1.y + h1.height * 0.25;
  await demo.mouse.move(glide.x, glide.y);
  await glide(h1.x + h1.width - 20, h1.y + h1.height * 0.25, 14);
  await glide(h1.x + 60, h1.y + h1.height * 0.75, 6);
  await glide(h1.x + h1.width - 60, h1.y + h1.height * 0.75, 12);
  await glide(p.x + 20, p.y + 12, 6);
  await glide(p.x + p.width - 20, p.y + 12, 12);
  // Down to the call to action, and dwell there, a pixel to and fro, for
  // about 1.5 s (a move is sent at most every 100 ms).
  const dx = box.x + box.width * 0.7, dy = box.y + box.height / 2;
  await glide(dx, dy, 6);
  for (let i = 0; i < 12; i++) {
    await demo.waitForTimeout(120);
    await demo.mouse.move(dx + (i % 2), dy);
  }
  await demo.mouse.click(dx, dy);
  await demo.evaluate(() => window.GaleTracker.flush());
  await demo.waitForFunction(() => window.GaleTracker.pending() === 0, null, { timeout: 10000 });
  await demo.waitForTimeout(200); // the last request's answer
  const visitor = await demo.evaluate(() => window.GaleTracker.visitor);

  // ---- the dashboard ----
  const dashContext = await browser.newContext({
    viewport: { width: 1400, height: 1000 },
    httpCredentials: password ? { username: "marketing", password } : undefined,
  });
  const dash = await dashContext.newPage();
  dash.on("console", (m) => console.error("dashboard:", m.text()));
  dash.on("pageerror", (e) => console.error("dashboard error:", e.message));
  await dash.goto(dashURL, { waitUntil: "load" });
  // Wait until the dashboard shows every event sent (the demo page, now
  // hidden, sends a visibility event too), the closed session, and no open
  // one: the sessionizer reports its open count on its next tick, apart
  // from the closed session, so the dashboard can show the one before the
  // other (a CI run read "closed 1, open 1" between the two).
  const shown = () => dash.evaluate(() => Object.fromEntries(
    ["status", "active", "open", "conv", "closed", "pageinfo", "avg"].map((id) => [id, document.getElementById(id).textContent])));
  let text;
  // The session closes after the test's 15 s of quiet.
  for (const deadline = Date.now() + 40000; ;) {
    text = await shown();
    if (text.pageinfo.startsWith(sent.length + " events") && text.closed === "1" && text.open === "0") break;
    if (Date.now() > deadline) {
      console.error("the dashboard did not show", sent.length, "events, 1 closed session and none open:", JSON.stringify(text));
      break;
    }
    await dash.waitForTimeout(50);
  }
  const frame = dash.frameLocator("#frame");
  await frame.locator("#cta").waitFor({ timeout: 10000 });

  // Where the dashboard draws the page's #cta (the iframe is scaled), in
  // the dashboard's CSS pixels, and the page-to-dashboard mapping.
  const ctaInDash = await frame.locator("#cta").boundingBox();
  const geo = await dash.evaluate(() => {
    const f = document.getElementById("frame").getBoundingClientRect();
    return { left: f.left, top: f.top, scale: f.width / document.getElementById("frame").offsetWidth };
  });

  // Sample the heat canvas at page coordinates (x, y) every STEP pixels:
  // page point -> where the scaled iframe shows it -> canvas pixel.
  async function sample(layer) {
    return dash.evaluate(([layer, step, vw]) => {
      document.querySelector(`input[name=layer][value=${layer}]`).click(); // re-renders
      const canvas = document.getElementById("heat");
      const f = document.getElementById("frame").getBoundingClientRect();
      const scale = f.width / document.getElementById("frame").offsetWidth;
      const c = canvas.getBoundingClientRect();
      const k = canvas.width / c.width;
      const img = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      const cols = Math.floor(vw / step);
      const rows = Math.floor((c.bottom - f.top) / scale / step);
      const out = new Uint8Array(cols * rows * 4);
      for (let r = 0; r < rows; r++) {
        for (let q = 0; q < cols; q++) {
          const px = Math.floor((f.left + (q * step + step / 2) * scale - c.left) * k);
          const py = Math.floor((f.top + (r * step + step / 2) * scale - c.top) * k);
          if (px < 0 || py < 0 || px >= canvas.width || py >= canvas.height) continue;
          const i = (py * canvas.width + px) * 4;
          out.set(img.data.subarray(i, i + 4), (r * cols + q) * 4);
        }
      }
      let s = "";
      for (let i = 0; i < out.length; i += 8192) s += String.fromCharCode(...out.subarray(i, i + 8192));
      return { step, cols, rows, rgba: btoa(s) };
    }, [layer, STEP, VW]);
  }
  const clicks = await sample("clicks");
  const heat = await sample("heat");
  if (screenshot) {
    await dash.waitForTimeout(300); // the iframe's fonts
    await dash.screenshot({ path: screenshot });
  }
  console.log(JSON.stringify({ visitor, vw: VW, vh: VH, cta, sent, text, ctaInDash, geo, heat, clicks }));
} finally {
  await browser.close();
}
