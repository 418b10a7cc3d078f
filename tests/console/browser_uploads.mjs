// Browser uploads from another origin (issue 27): a page of origin
// http://localhost:PORT (the console's, reached by another host name than
// the S3 URLs' 127.0.0.1, so every S3 request is cross-origin) uploads with a presigned PUT carrying a Content-Type (so
// the browser sends a CORS preflight) and with a POST form (FormData of the
// presigned POST fields and a file), then downloads both. With a CORS rule
// for that origin everything succeeds; without one the browser blocks it.
// Input: PAGE_URL, UPLOADS (JSON of the URLs and fields), EXPECT ("allowed" | "blocked").
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
const require = createRequire(path.join(process.env.NODE_PATH, "x.js"));
const { chromium } = require("playwright-core");

const uploads = JSON.parse(process.env.UPLOADS);
const allowed = process.env.EXPECT === "allowed";
const artifacts = process.env.ARTIFACT_DIR;
fs.mkdirSync(artifacts, { recursive: true });
const file = path.join(artifacts, "post-upload.txt");
fs.writeFileSync(file, uploads.post_body);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
const page = await browser.newPage();
try {
  await page.goto(process.env.PAGE_URL);
  await page.evaluate(() => document.body.insertAdjacentHTML("beforeend", '<input type="file" id="f">'));
  await page.setInputFiles("#f", file);
  const results = await page.evaluate(async (u) => {
    const attempt = async (fn) => {
      try {
        return { ok: true, value: await fn() };
      } catch (e) {
        return { ok: false, value: String(e) };
      }
    };
    const put = await attempt(async () => {
      const r = await fetch(u.put_url, { method: "PUT", headers: { "Content-Type": "text/plain" }, body: u.put_body });
      return r.status;
    });
    const post = await attempt(async () => {
      const fd = new FormData();
      for (const [k, v] of Object.entries(u.post_fields)) fd.append(k, v);
      fd.append("file", document.getElementById("f").files[0]);
      const r = await fetch(u.post_url, { method: "POST", body: fd });
      return r.status;
    });
    const getPut = await attempt(async () => (await fetch(u.get_put_url)).text());
    const getPost = await attempt(async () => (await fetch(u.get_post_url)).text());
    return { put, post, getPut, getPost };
  }, uploads);
  console.log(JSON.stringify(results));
  if (allowed) {
    if (!results.put.ok || results.put.value !== 200) throw new Error("presigned PUT failed: " + JSON.stringify(results.put));
    if (!results.post.ok || results.post.value !== 204) throw new Error("POST form failed: " + JSON.stringify(results.post));
    if (results.getPut.value !== uploads.put_body) throw new Error("PUT object differs: " + JSON.stringify(results.getPut));
    if (results.getPost.value !== uploads.post_body) throw new Error("POST object differs: " + JSON.stringify(results.getPost));
  } else {
    for (const [name, r] of Object.entries(results)) {
      if (r.ok) throw new Error(name + " was not blocked by the browser: " + JSON.stringify(r));
    }
  }
  console.log("browser uploads " + (allowed ? "succeeded" : "were blocked") + " as expected");
} catch (e) {
  await page.screenshot({ path: path.join(artifacts, "browser-uploads-failure.png") }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
