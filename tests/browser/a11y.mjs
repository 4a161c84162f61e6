// Every kind of page of the local site in headless Chromium, checked with axe-core's
// default rules at a desktop and a phone width: zero violations of any impact. Each page
// also comes with its Content-Security-Policy (and the other security headers), and the
// browser reports no violation of it (csp.mjs).
//
//   node a11y.mjs http://127.0.0.1:PORT        (tests/run.sh starts `site serve` for it)
//
// Requests that leave the machine (hCaptcha's script) are refused: no network here, and
// the check is of our own markup.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { securityHeaderProblems, watchCsp } from "./csp.mjs";

const require = createRequire(import.meta.url);
// Evaluated through the DevTools protocol, which the page's CSP does not govern (a
// <script> element added to the page would be refused, rightly: it is inline).
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const base = process.argv[2];
if (!base) {
  console.error("usage: node a11y.mjs http://127.0.0.1:PORT");
  process.exit(2);
}
const PAGES = ["/", "/page/2/", "/posts/the-big-link-up/", "/about/", "/signup/", "/404.html"];
const WIDTHS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let passed = 0;
let failed = 0;
try {
  for (const viewport of WIDTHS) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const csp = await watchCsp(page);
    await page.route("**/*", (route) =>
      route.request().url().startsWith(base) ? route.continue() : route.abort());
    for (const path of PAGES) {
      const name = `${path} at ${viewport.width}px`;
      csp.clear();
      const response = await page.goto(base + path, { waitUntil: "load" });
      if (!response || (response.status() >= 400 && path !== "/404.html")) {
        console.log(`FAIL ${name}: HTTP ${response && response.status()}`);
        failed++;
        continue;
      }
      const problems = [
        ...securityHeaderProblems(await response.allHeaders()),
        ...(await csp.violations()),
      ];
      if (problems.length > 0) {
        console.log(`FAIL ${name}: security policy`);
        for (const p of problems) console.log(`     ${p}`);
        failed++;
        continue;
      }
      await page.evaluate(AXE);
      const violations = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
        }));
      });
      if (violations.length === 0) {
        console.log(`ok   ${name}`);
        passed++;
      } else {
        console.log(`FAIL ${name}`);
        for (const v of violations) {
          console.log(`     ${v.id} (${v.impact}): ${v.help} at ${v.nodes.join(", ")}`);
        }
        failed++;
      }
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`a11y: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
