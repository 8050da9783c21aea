// A member's inbox in Debian's headless Chromium with JavaScript turned off: the member opens the inbox link of
// their e-mail, reads it by its accessible names (the heading, the views, the table and its column headers, a
// labelled checkbox per ticket), checks two tickets and takes them with "Assign to me", then opens "Mine".
// Usage: node browser-inbox.mjs INBOX_LINK SCREENSHOT_DIR
// Prints one JSON line of what the pages showed. Exits non-zero on the first thing not as expected.
import { chromium } from "playwright-core";

const [inboxLink, shots] = process.argv.slice(2);
const seen = {};

function expect(condition, what) {
  if (!condition) throw new Error(`not as expected: ${what}`);
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(inboxLink);
  seen.heading = await page.getByRole("heading", { level: 1 }).innerText();
  seen.views = await page.getByRole("navigation", { name: "Views" }).getByRole("link").allInnerTexts();
  seen.current = await page.locator('[aria-current="page"]').innerText();
  const table = page.getByRole("table");
  seen.caption = await table.locator("caption").innerText();
  seen.columns = await table.getByRole("columnheader").allInnerTexts();
  seen.rows = await table.locator("tbody").getByRole("row").count();
  seen.search = await page.getByRole("searchbox", { name: "Find a ticket by number or requester address" }).count();
  seen.assignTo = await page.getByLabel("Assign to", { exact: true }).count();
  const boxes = page.getByRole("checkbox");
  seen.checkboxNames = await boxes.evaluateAll((all) => all.map((b) => b.getAttribute("aria-label")));
  expect(seen.rows >= 2, "at least two tickets listed");

  await page.getByRole("checkbox", { name: "Select ticket #1" }).check();
  await page.getByRole("checkbox", { name: "Select ticket #2" }).check();
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Assign to me" }).click()]);
  seen.notice = await page.getByRole("status").innerText();
  await Promise.all([page.waitForNavigation(), page.getByRole("link", { name: "Mine" }).click()]);
  seen.mine = await page.locator("tbody tr td:nth-child(2)").allInnerTexts();
  await page.screenshot({ path: `${shots}/inbox.png`, fullPage: true });
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
