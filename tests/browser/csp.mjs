// The site under its Content-Security-Policy, in headless Chromium.
//
// As a module (a11y.mjs uses it): `securityHeaderProblems` checks a response's security
// headers, `watchCsp` collects what the browser refuses on a page (Chromium's console
// "Refused to ..." messages and `securitypolicyviolation` events).
//
// As a script, one visitor's story under the policy:
//
//   SITE_DATA=<data folder of the running server> node csp.mjs http://127.0.0.1:PORT
//
// a comment is sent with the post page's form (the form's POST must be allowed), the
// moderator approves it with `site comments approve` (through the running server), and
// on the re-rendered page "Reply" under it fills the form's parent field: the inline
// script runs, allowed by its hash. No violation is reported on the way.
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

/// hCaptcha's test answer, which the local server's verifier accepts (shared::ports).
const CAPTCHA_TEST_ANSWER = "10000000-aaaa-bbbb-cccc-000000000001";

/// What is wrong with a page's security headers (none: an empty list).
export function securityHeaderProblems(headers) {
  const problems = [];
  const csp = headers["content-security-policy"];
  if (!csp) {
    problems.push("no Content-Security-Policy header");
  } else {
    for (const d of [
      "default-src 'self'",
      "object-src 'none'",
      "base-uri 'self'",
      "frame-ancestors 'none'",
      "https://*.hcaptcha.com",
    ]) {
      if (!csp.includes(d)) problems.push(`CSP without ${d}: ${csp}`);
    }
    if (/unsafe-inline|unsafe-eval/.test(csp)) problems.push(`CSP allows unsafe code: ${csp}`);
  }
  const expect = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
  };
  for (const [name, value] of Object.entries(expect)) {
    if (headers[name] !== value) problems.push(`${name}: ${headers[name]}, not ${value}`);
  }
  if (!/max-age=\d+/.test(headers["strict-transport-security"] || "")) {
    problems.push("no Strict-Transport-Security header");
  }
  return problems;
}

/// Collect what the page's policy refuses; `violations()` after each page, `clear()`
/// before the next.
export async function watchCsp(page) {
  let messages = [];
  page.on("console", (m) => {
    const text = m.text();
    if (/Refused to|Content Security Policy/i.test(text)) messages.push(`console: ${text}`);
  });
  // Injected through the DevTools protocol, which the policy does not govern.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(
        `${e.effectiveDirective} refused ${e.blockedURI || "inline code"}` +
          ` at ${e.sourceFile || "?"}:${e.lineNumber || "?"}`);
    });
  });
  return {
    clear() {
      messages = [];
    },
    async violations() {
      // Console messages arrive a moment after the page has run.
      await page.waitForTimeout(200);
      const events = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
      return [...messages, ...events.map((e) => `securitypolicyviolation: ${e}`)];
    },
  };
}

async function until(what, seconds, probe) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  const base = process.argv[2];
  const data = process.env.SITE_DATA;
  if (!base || !data) {
    console.error("usage: SITE_DATA=<data folder> node csp.mjs http://127.0.0.1:PORT");
    process.exit(2);
  }
  const site = process.env.SITE_BIN || "target/debug/site";
  const content = process.env.SITE_CONTENT || "sample/content";
  const comments = (...args) =>
    execFileSync(site, ["comments", ...args, "--data", data, "--content", content], {
      encoding: "utf8",
    });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const failures = [];
  const check = (ok, what) => {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failures.push(what);
  };
  try {
    const page = await (await browser.newContext()).newPage();
    const csp = await watchCsp(page);
    await page.route("**/*", (route) =>
      route.request().url().startsWith(base) ? route.continue() : route.abort());
    const post = `${base}/posts/the-big-link-up/`;
    const author = `Ada Reader ${Date.now() % 100000}`;

    const violations = [];
    // A visitor comments with the page's form: the POST goes to the comment endpoint.
    const response = await page.goto(post, { waitUntil: "load" });
    const headerProblems = securityHeaderProblems(await response.allHeaders());
    check(headerProblems.length === 0, `post page security headers ${headerProblems.join("; ")}`);
    await page.fill("#comment-name", author);
    await page.fill("#comment-email", "ada@example.org");
    await page.fill("#comment-body", "Music lessons made the difference at our school.");
    // hCaptcha's script cannot load here (no network): its answer field, as it would add it.
    await page.evaluate((answer) => {
      const field = document.createElement("input");
      field.type = "hidden";
      field.name = "h-captcha-response";
      field.value = answer;
      document.getElementById("comment-form").appendChild(field);
    }, CAPTCHA_TEST_ANSWER);
    await Promise.all([
      page.waitForURL(/#awaiting-moderation$/, { timeout: 15000 }),
      page.click("#comment-form button[type=submit]"),
    ]);
    check(true, "the comment form posts under the policy (form-action)");
    violations.push(...(await csp.violations()));

    // The moderator approves it, through the running server.
    const line = await until("the comment verified", 30, async () => {
      for (const status of ["held", "approved"]) {
        const found = comments("list", "--status", status)
          .split("\n")
          .find((l) => l.includes(author));
        if (found) return found;
      }
      return null;
    });
    const id = line.split(/\s+/)[0];
    if (!line.includes(" approved ")) comments("approve", id);

    // Published with its Reply link.
    await until("the comment published", 30, async () => {
      await page.goto(post, { waitUntil: "load" });
      return (await page.$(`a.reply-link[data-reply-to="${id}"]`)) !== null;
    });

    // "Reply" makes the form a reply to it: the inline script ran.
    await page.click(`a.reply-link[data-reply-to="${id}"]`);
    const form = () =>
      page.evaluate(() => ({
        parent: document.getElementById("comment-parent").value,
        shown: !document.getElementById("replying-to").hidden,
        name: document.getElementById("replying-to-name").textContent,
      }));
    const replying = await form();
    check(
      replying.parent === id && replying.shown && replying.name.includes(author),
      `Reply fills the parent field (${JSON.stringify(replying)})`);
    await page.click("#reply-cancel");
    const cancelled = await form();
    check(cancelled.parent === "" && !cancelled.shown,
      `"new comment instead" clears it (${JSON.stringify(cancelled)})`);

    violations.push(...(await csp.violations()));
    check(violations.length === 0, "no CSP violation reported");
    for (const v of violations) console.log(`     ${v}`);
  } catch (e) {
    check(false, `${e.message}`);
  } finally {
    await browser.close();
  }
  console.log(`csp: ${failures.length === 0 ? "passed" : `${failures.length} failed`}`);
  process.exit(failures.length === 0 ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
