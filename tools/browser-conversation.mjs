// The conversation as two people live it, in Debian's headless Chromium with JavaScript turned off (the pages
// need none): the requester replies from the private link; the team opens the team link of its e-mail, replies
// with a screenshot attached (the form's file input) and resolves; the requester sees both, downloads the file
// through its link, and replies again, which opens the ticket again.
// Usage: node browser-conversation.mjs REQUESTER_LINK SES_STANDIN_URL TEAM_ADDRESS SCREENSHOT_DIR
// Prints one JSON line: what each page showed at each step. Exits non-zero on the first thing not as expected.
import { chromium } from "playwright-core";

const [requesterLink, sesUrl, teamAddress, shots] = process.argv.slice(2);
const seen = {};

function expect(condition, what) {
  if (!condition) throw new Error(`not as expected: ${what}`);
}

async function mailTo(address, count) {
  for (let i = 0; i < 200; i++) {
    const store = await (await fetch(`${sesUrl}/store`)).json();
    const mail = store.emails.filter((e) => (e.destination?.to ?? []).includes(address));
    if (mail.length >= count) return mail;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} e-mails reached ${address}`);
}

async function thread(page) {
  return page.locator("#thread .message").allInnerTexts();
}

async function reply(page, text, file) {
  await page.fill("#message", text);
  if (file) await page.setInputFiles("#file", file);
  await Promise.all([page.waitForNavigation(), page.click("#send")]);
}

// A real 1x1 PNG, as a screenshot starts.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000a49444154789c63000100000500010d0a2db40000000049454e44ae426082",
  "hex");

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 1000 } });
  const requester = await context.newPage();

  await requester.goto(requesterLink);
  seen.requesterOpened = await requester.textContent("#status");
  await reply(requester, "Which plan has single sign-on?\nAnd is there a trial?");
  seen.afterRequesterReply = { url: new URL(requester.url()).hash, thread: await thread(requester) };
  expect(seen.afterRequesterReply.thread.at(-1) === "Which plan has single sign-on?\nAnd is there a trial?",
    "the reply is the thread's last message, its line break kept");

  // The team's link comes from the team's e-mail about the new ticket, as a person would click it.
  const [newTicket] = await mailTo(teamAddress, 1);
  const teamLink = newTicket.body.text.match(/https?:\/\/\S+teamKey=[0-9a-f]+/)[0];
  const team = await context.newPage();
  await team.goto(teamLink);
  seen.teamOpened = {
    requester: await team.textContent("#requester"),
    collection: await team.textContent(".collection"),
    thread: await thread(team),
  };
  await reply(team, "The Business plan has SSO, and every plan has a 14-day trial.",
    { name: "plans.png", mimeType: "image/png", buffer: PNG });
  seen.teamFiles = await team.locator("#thread .files a").allInnerTexts();
  await Promise.all([team.waitForNavigation(), team.click("#resolve")]);
  seen.teamAfterResolve = { status: await team.textContent("#status"), thread: await thread(team) };
  await team.screenshot({ path: `${shots}/conversation-team.png`, fullPage: true });

  await requester.reload();
  seen.requesterAfterTeam = {
    status: await requester.textContent("#status"),
    note: await requester.textContent("#resolved-note"),
    thread: await thread(requester),
  };
  // The file, through the requester's own link: the page's link answers a redirect to the file itself.
  const href = await requester.locator("#thread .files a").first().getAttribute("href");
  const file = await context.request.get(new URL(href, requester.url()).toString());
  const body = await file.body();
  seen.download = { status: file.status(), type: file.headers()["content-type"], same: body.equals(PNG), href };
  await reply(requester, "Thanks! One more question about invoices.");
  seen.requesterAfterSecondReply = { status: await requester.textContent("#status"), thread: await thread(requester) };
  await requester.screenshot({ path: `${shots}/conversation-requester.png`, fullPage: true });
  seen.teamLink = teamLink;
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
