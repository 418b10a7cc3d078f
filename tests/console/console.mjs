// End-to-end console test: sign in, create a credential and a bucket, upload a
// file, see it listed, download it, delete it. Saves screenshots as artifacts.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
const require = createRequire(path.join(process.env.NODE_PATH, "x.js"));
const { chromium } = require("playwright-core");

const url = process.env.CONSOLE_URL;
const artifacts = process.env.ARTIFACT_DIR;
fs.mkdirSync(artifacts, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1366, height: 800 }, acceptDownloads: true });
const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
try {
  await page.goto(url);
  if (await page.isVisible("nav")) throw new Error("the nav shows while signed out");
  await page.fill("#api-key", process.env.API_KEY);
  await page.click("#signin-form button");
  await page.waitForSelector("#stats .card");

  await page.click('nav a[data-view="credentials"]');
  await page.fill("#cred-user", "console-user");
  await page.click("#cred-form button");
  await page.waitForSelector("#new-secret-key");
  const secret = await page.textContent("#new-secret-key");
  if (!secret || secret.length < 8) throw new Error("secret not shown");

  await page.click('nav a[data-view="buckets"]');
  await page.waitForSelector("#bucket-owner option", { state: "attached" });
  await page.fill("#bucket-name", "console-bucket");
  const owner = await page.$eval("#bucket-owner", (sel) => [...sel.options].find((o) => o.text.startsWith("console-user")).value);
  await page.selectOption("#bucket-owner", owner);
  await page.click("#bucket-form button");
  await page.waitForSelector('tr[data-name="console-bucket"]');
  await page.click('tr[data-name="console-bucket"] a');
  await page.waitForSelector("#objects-view:not([hidden])");

  const file = path.join(artifacts, "hello.txt");
  fs.writeFileSync(file, "hello from the console test\n");
  await page.setInputFiles("#upload-file", file);
  await page.click("#upload-btn");
  await page.waitForSelector('tr[data-key="hello.txt"]');
  await shot("console-objects");

  const [download] = await Promise.all([page.waitForEvent("download"), page.click('tr[data-key="hello.txt"] button[data-act="download"]')]);
  const got = fs.readFileSync(await download.path(), "utf8");
  if (got !== "hello from the console test\n") throw new Error("downloaded bytes differ: " + JSON.stringify(got));

  await page.click('tr[data-key="hello.txt"] button[data-act="delete"]');
  await page.waitForSelector('tr[data-key="hello.txt"]', { state: "detached" });
  await page.click('nav a[data-view="dashboard"]');
  await page.waitForSelector("#stats .card");
  await shot("console-dashboard");
  console.log("console test passed; screenshots in " + artifacts);
} catch (e) {
  await shot("console-failure").catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
