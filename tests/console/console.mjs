// End-to-end console test: sign in, create a credential and a bucket, upload a
// file, see it listed, download it (the browser follows a presigned link),
// delete it; turn versioning on and see older versions counted; set, refuse
// and remove rate limits; upload with the presigned-URL view's POST form;
// every view at 400 px wide. Saves screenshots as
// artifacts.
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
  const accessKey = (await page.textContent("#new-access-key")).trim();

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
  // Streamed: the browser fetched the presigned S3 URL itself (not a blob
  // the page assembled in memory).
  if (!/\/console-bucket\/hello\.txt\?.*X-Amz-Signature=/.test(download.url())) throw new Error("not a presigned download: " + download.url());
  const call = async (method, p, body) => {
    const r = await fetch(new URL("api/v1/" + p, url), { method, headers: { Authorization: "Bearer " + process.env.API_KEY },
      body: body === undefined ? undefined : JSON.stringify(body) });
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  // The console's own upload and download URLs are not listed as URLs users handed out.
  const listed = (await call("GET", "presigned-urls")).urls;
  if (listed.some((u) => u.bucket_name === "console-bucket")) throw new Error("the console's own URLs are listed: " + JSON.stringify(listed));

  await page.click('tr[data-key="hello.txt"] button[data-act="delete"]');
  await page.waitForSelector('tr[data-key="hello.txt"]', { state: "detached" });

  // Versioning: turned on from the bucket page; a key written twice is one
  // object and one older version, and the size counts both.
  await page.click("#versioning-enable");
  await page.waitForFunction(() => document.getElementById("obj-versioning").textContent === "Enabled");
  if ((await call("GET", "buckets/console-bucket/versioning")).status !== "Enabled") throw new Error("versioning not enabled through the console");
  for (const text of ["version one\n", "version two, longer\n"]) {
    fs.writeFileSync(path.join(artifacts, "v.txt"), text);
    await page.setInputFiles("#upload-file", path.join(artifacts, "v.txt"));
    await page.evaluate(() => { document.getElementById("status").textContent = ""; });
    await page.click("#upload-btn");
    await page.waitForFunction(() => document.getElementById("status").textContent === "Uploaded v.txt");
  }
  await page.waitForFunction(() => document.getElementById("obj-usage").textContent.startsWith("1 object and 1 older version"));
  const detail = await call("GET", "buckets/console-bucket");
  if (detail.object_count !== 1 || detail.noncurrent_versions !== 1 || detail.total_size !== 12 + 20) throw new Error("versioned usage: " + JSON.stringify(detail));
  // Object details: type, size, ETag.
  await page.click('tr[data-key="v.txt"] button[data-act="details"]');
  await page.waitForSelector("#obj-detail:not([hidden])");
  const details = await page.textContent("#obj-detail");
  if (!details.includes("text/plain") || !details.includes("(20 bytes)") || !/[0-9a-f]{32}/.test(details)) throw new Error("object details: " + details);
  // Its versions, newest first: the current 20 bytes, then the older 12.
  const versions = await page.$$eval("#obj-versions tbody tr", (rows) => rows.map((r) => r.textContent.replace(/\s+/g, " ").trim()));
  if (versions.length !== 2 || !versions[0].includes("20 B") || !versions[0].includes("current") || !versions[1].includes("12 B") || versions[1].includes("current")) {
    throw new Error("versions of v.txt: " + JSON.stringify(versions));
  }
  // Lifecycle: S3's document in, the rule shown and in force; a bad one is refused.
  await page.fill("#lifecycle-xml", "<LifecycleConfiguration><Rule><ID>old-logs</ID><Filter><Prefix>logs/</Prefix></Filter>" +
    "<Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>");
  await page.click("#lifecycle-set");
  await page.waitForFunction(() => document.getElementById("lifecycle-rules").textContent.includes("expire after 30 days"));
  const lc = await call("GET", "buckets/console-bucket/lifecycle");
  if (lc.rules.length !== 1 || lc.rules[0].id !== "old-logs" || lc.rules[0].expiration?.Days !== 30) throw new Error("lifecycle: " + JSON.stringify(lc));
  await shot("console-versioned-bucket");
  await page.fill("#lifecycle-xml", "<LifecycleConfiguration><Rule>");
  await page.click("#lifecycle-set");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("MalformedXML"));
  if ((await call("GET", "buckets/console-bucket/lifecycle")).rules.length !== 1) throw new Error("a refused document changed the rules");
  await page.click("#lifecycle-remove");
  await page.waitForFunction(() => document.getElementById("lifecycle-rules").textContent.trim() === "none");
  if ((await call("GET", "buckets/console-bucket/lifecycle")).rules.length !== 0) throw new Error("rules not removed");

  // A large file goes up in 5 MiB parts with a progress bar: 12 MiB, 3 parts.
  const big = path.join(artifacts, "big.bin");
  fs.writeFileSync(big, Buffer.alloc(12 * 1024 * 1024, 7));
  await page.setInputFiles("#upload-file", big);
  await page.click("#upload-btn");
  await page.waitForFunction(() => document.getElementById("status").textContent === "Uploaded big.bin", null, { timeout: 60000 });
  const bigDetail = await call("GET", "buckets/console-bucket/objects/big.bin");
  if (bigDetail.size !== 12 * 1024 * 1024 || !bigDetail.is_multipart || bigDetail.part_count !== 3) throw new Error("multipart upload: " + JSON.stringify(bigDetail));
  if (await page.$eval("#upload-progress", (p) => p.hidden || p.value !== p.max)) throw new Error("the progress bar does not show the finished upload");
  await page.waitForSelector('tr[data-key="big.bin"]');
  await shot("console-multipart-upload");
  // Cancelled midway: the second part is held back until Cancel is clicked;
  // the upload is aborted and nothing is stored.
  let heldPart;
  const partHeld = new Promise((resolve) => { heldPart = resolve; });
  await page.route((u) => u.pathname.endsWith("/console-bucket/cancel.bin") && u.searchParams.get("partNumber") === "2",
    (route) => { heldPart(route); });
  const cancelFile = path.join(artifacts, "cancel.bin");
  fs.writeFileSync(cancelFile, Buffer.alloc(12 * 1024 * 1024, 9));
  await page.setInputFiles("#upload-file", cancelFile);
  await page.click("#upload-btn");
  const held = await partHeld;
  await page.click("#upload-cancel");
  await page.waitForFunction(() => document.getElementById("status").textContent === "Upload of cancel.bin cancelled");
  await held.abort().catch(() => {});
  await page.unrouteAll({ behavior: "ignoreErrors" });
  const left = (await call("GET", "buckets/console-bucket/multipart-uploads")).uploads;
  if (left.length !== 0) throw new Error("a cancelled upload was left: " + JSON.stringify(left));
  const gone = await fetch(new URL("api/v1/buckets/console-bucket/objects/cancel.bin", url), { headers: { Authorization: "Bearer " + process.env.API_KEY } });
  if (gone.status !== 404) throw new Error("a cancelled upload stored an object: " + gone.status);
  await page.click('nav a[data-view="buckets"]');
  // The list re-renders when the view loads: wait for the row with versions.
  await page.waitForFunction(() => document.querySelector('tr[data-name="console-bucket"]')?.textContent.includes("older version"), null, { timeout: 10000 })
    .catch(() => {});
  const row = await page.textContent('tr[data-name="console-bucket"]');
  if (!row.includes("+ 1 older version") || !row.includes("Enabled")) throw new Error("bucket row does not explain versions: " + row);
  // Rate limits: the serve flags' default is shown; a limit set for the new
  // credential and one for the bucket reach the API; a bad one is refused
  // naming its field and changes nothing; removing one removes it.
  const limits = async () => (await fetch(new URL("api/v1/rate-limits", url),
    { headers: { Authorization: "Bearer " + process.env.API_KEY } })).json();
  await page.click('nav a[data-view="limits"]');
  await page.waitForSelector("#limit-default-rows tr");
  const defaults = await page.textContent("#limit-default-rows");
  if (!defaults.includes("1000") || !defaults.includes("200")) throw new Error("bucket default not shown: " + defaults);
  const setLimit = async (kind, name, rate, burst, bytes) => {
    await page.selectOption("#limit-kind", kind);
    await page.fill("#limit-name", name);
    await page.fill("#limit-rate", rate);
    await page.fill("#limit-burst", burst);
    await page.fill("#limit-bytes", bytes);
    await page.click("#limit-form button");
  };
  await setLimit("credentials", accessKey, "25", "5", "");
  await page.waitForSelector(`#limit-rows tr[data-name="${accessKey}"]`);
  await setLimit("buckets", "console-bucket", "100", "", "1048576");
  await page.waitForSelector('#limit-rows tr[data-name="console-bucket"]');
  let l = await limits();
  const c = l.credentials[accessKey], b = l.buckets["console-bucket"];
  if (c?.requests_per_sec !== 25 || c?.burst !== 5 || b?.requests_per_sec !== 100 || b?.bytes_per_sec !== 1048576) {
    throw new Error("limits not set through the console: " + JSON.stringify(l));
  }
  await setLimit("buckets", "console-bucket", "0", "", "");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("console-bucket.requests_per_sec"));
  l = await limits();
  if (l.buckets["console-bucket"]?.requests_per_sec !== 100) throw new Error("a refused change changed something: " + JSON.stringify(l));
  await shot("console-rate-limits");
  await page.click(`#limit-rows tr[data-name="${accessKey}"] button[data-act="remove"]`);
  await page.waitForSelector(`#limit-rows tr[data-name="${accessKey}"]`, { state: "detached" });
  l = await limits();
  if (accessKey in l.credentials || !("console-bucket" in l.buckets)) throw new Error("remove: " + JSON.stringify(l));

  // A multipart upload the test started with an S3 client: aborted here.
  await page.click('nav a[data-view="buckets"]');
  await page.click(`tr[data-name="${process.env.UPLOAD_BUCKET}"] a`);
  await page.waitForSelector("#upload-rows tr[data-id] button[data-act=abort]");
  await page.click("#upload-rows tr[data-id] button[data-act=abort]");
  await page.waitForFunction(() => document.getElementById("upload-rows").textContent.trim() === "none");

  // The presigned-URL view's POST form (issue 27): generated for the
  // bucket owner's key, its file chosen and submitted as a plain HTML
  // form, it stores the file.
  await page.click('nav a[data-view="presign"]');
  await page.waitForSelector("#presign-view:not([hidden])");
  await page.waitForSelector(`#ps-access option[value="${accessKey}"]`, { state: "attached" });
  await page.fill("#ps-bucket", "console-bucket");
  await page.fill("#ps-key", "forms/posted.txt");
  await page.selectOption("#ps-method", "POST");
  await page.selectOption("#ps-access", accessKey);
  await page.click("#presign-form button");
  await page.waitForSelector('#ps-form form input[type="file"]');
  if (!(await page.textContent("#ps-url")).startsWith("POST ")) throw new Error("no POST URL shown: " + (await page.textContent("#ps-url")));
  const posted = path.join(artifacts, "posted.txt");
  fs.writeFileSync(posted, "posted through the console's form\n");
  await page.setInputFiles('#ps-form input[type="file"]', posted);
  const [postAnswer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/console-bucket"),
    page.click('#ps-form button[type="submit"]'),
  ]);
  if (postAnswer.status() !== 204) throw new Error("the console's POST form got " + postAnswer.status() + ": " + (await postAnswer.text()));
  const postedDetail = await call("GET", "buckets/console-bucket/objects/forms%2Fposted.txt");
  if (postedDetail.size !== 34) throw new Error("the POST form stored: " + JSON.stringify(postedDetail));
  await shot("console-presigned-post");

  await page.click('nav a[data-view="dashboard"]');
  await page.waitForSelector("#stats .card");
  await shot("console-dashboard");
  // Disk, uptime, version and shards beside the counts.
  const card = (k) => page.textContent(`#stats .card[data-card="${k}"] .v`);
  const st = await call("GET", "stats");
  if (!/ used, .* free$/.test(await card("Disk"))) throw new Error("disk card: " + (await card("Disk")));
  if ((await card("Shards")) !== "2" || st.shards !== 2) throw new Error("shards card: " + (await card("Shards")));
  if (!(await card("Version")).startsWith(st.version + " (")) throw new Error("version card: " + (await card("Version")));
  if (!/^\d+ (min|h|d) /.test(await card("Uptime"))) throw new Error("uptime card: " + (await card("Uptime")));
  // Charts: requests/s, bytes/s and p50/p99 latency over the last minutes
  // (stats/history), redrawn every 5 s: S3 traffic moves them.
  await page.waitForSelector('#charts figure[data-chart="latency"]');
  const hist = await call("GET", "stats/history");
  for (const name of ["requests", "bytes", "latency"]) {
    const n = await page.getAttribute(`#charts figure[data-chart="${name}"]`, "data-points");
    if (Number(n) !== hist.points.length || !(hist.points.length > 1)) throw new Error(`${name} chart: ${n} points, the API ${hist.points.length}`);
  }
  const drawn = async () => Number(await page.getAttribute("#charts", "data-requests"));
  const before = await drawn();
  if (!(before > 0)) throw new Error("the requests chart shows no request after the uploads: " + before);
  const root = (await call("GET", "credentials")).credentials[0].access_key;
  const signed = await call("POST", "presigned-urls", { bucket_name: "console-bucket", object_key: "v.txt",
    method: "GET", expires_in: 600, access_key: root });
  for (let i = 0; i < 25; i++) {
    const r = await fetch(new URL(signed.url, url));
    if (!r.ok) throw new Error("presigned GET: " + r.status);
    await r.arrayBuffer();
  }
  await page.waitForFunction((b) => Number(document.getElementById("charts").dataset.requests) >= b + 25, before, { timeout: 20000 });
  // Every line is drawn; the largest of each chart (its scale) rises above
  // the baseline somewhere (an SVG y under 146). Bytes out and p50 share a
  // scale with larger values, so they may stay close to the baseline.
  for (const series of ["requests_per_sec", "bytes_in_per_sec", "bytes_out_per_sec", "p50_micros", "p99_micros"]) {
    const d = (await page.getAttribute(`#charts path[data-series="${series}"]`, "d")) || "";
    const ys = [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    if (ys.length < 2) throw new Error(`the ${series} line is missing: ${d}`);
    const scale = ["requests_per_sec", "bytes_in_per_sec", "p99_micros"].includes(series);
    if (scale && !ys.some((y) => y < 146)) throw new Error(`the ${series} line is flat: ${d}`);
  }
  const shown = await call("GET", "stats/history");
  if (!shown.points.some((p) => p.bytes_out > 0 && p.p50_micros > 0)) throw new Error("no bytes out or p50 in the history: " + JSON.stringify(shown.points.slice(-3)));
  await shot("console-dashboard-charts");
  const overflowing = await page.$$eval("#stats .card", (cards) => cards.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.dataset.card));
  if (overflowing.length) throw new Error("cards whose text runs out of them: " + overflowing);

  // 400 px wide (a phone): no view is wider than the screen; wide tables
  // scroll inside their box.
  await page.setViewportSize({ width: 400, height: 800 });
  for (const view of ["dashboard", "credentials", "buckets", "presign", "limits", "objects"]) {
    if (view === "objects") {
      await page.click('nav a[data-view="buckets"]');
      await page.click('tr[data-name="console-bucket"] a');
      await page.waitForSelector('tr[data-key="v.txt"]');
    } else {
      await page.click(`nav a[data-view="${view}"]`);
      await page.waitForSelector(`#${view}-view:not([hidden])`);
      await page.waitForLoadState("networkidle");
    }
    const spill = await page.$$eval("#stats .card", (cards) => cards.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.dataset.card));
    if (spill.length) throw new Error(`at 400 px, cards whose text runs out of them: ${spill}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    await shot("console-400px-" + view);
    if (width > 400) throw new Error(`the ${view} view is ${width} px wide at a 400 px viewport`);
    const nav = await page.$eval("nav", (n) => n.getBoundingClientRect().right);
    if (nav > 400) throw new Error("the nav runs off a 400 px screen: " + nav);
  }
  console.log("console test passed; screenshots in " + artifacts);
} catch (e) {
  await shot("console-failure").catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
