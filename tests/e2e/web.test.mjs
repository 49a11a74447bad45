// End-to-end: the OpenAPI document validates, and the web page served by
// `ctdb serve` searches, shows slice thumbnails, similar patients and disease
// bars in headless Chromium; the screenshot is checked for content.
//   node web.test.mjs http://127.0.0.1:PORT API_KEY SCREENSHOT.png
import SwaggerParser from '@apidevtools/swagger-parser';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import fs from 'node:fs';
import assert from 'node:assert/strict';

const [base, key, shot] = process.argv.slice(2);

// 1. The OpenAPI document is valid OpenAPI 3 (schemas, refs, operations).
const doc = await (await fetch(`${base}/openapi.json`)).json();
await SwaggerParser.validate(structuredClone(doc));
console.log(`openapi: valid, ${Object.keys(doc.paths).length} paths`);

// 2. The page.
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto(base + '/');
  await page.fill('#key', key);
  await page.dispatchEvent('#key', 'change');
  await page.fill('#q', 'large right pleural effusion');
  await page.click('#go');
  await page.waitForSelector('.card');
  // Thumbnails arrive as PNGs fetched with the key.
  await page.waitForFunction(() => [...document.querySelectorAll('.card img')].filter(i => i.complete && i.naturalWidth > 0).length >= 3,
                             null, { timeout: 20000 });
  const cards = await page.$$eval('.card', cs => cs.map(c => c.querySelector('.k').textContent));
  assert.ok(cards.length >= 3, 'result cards');
  const meaning = await page.textContent('#meaning');
  assert.match(meaning, /cosine/);
  const zs = await page.$$eval('.card .s', ss => ss.map(s => s.textContent));
  assert.ok(zs.every(t => /z -?\d+ mm/.test(t)), 'text hits show z: ' + zs[0]);

  // Disease bars for the first card.
  await page.click('.card .dis');
  await page.waitForSelector('#probs .bar');
  const bars = await page.$$eval('#probs .bar', bs => bs.length);
  assert.ok(bars >= 10, 'disease bars');

  await page.screenshot({ path: shot });

  // "Similar patients" replaces the results with an image search.
  const firstKey = cards[0].split(' ').pop();
  await page.click('.card .sim');
  await page.waitForFunction(k => document.querySelector('#meaning').textContent.includes('global image embeddings') &&
                                  ![...document.querySelectorAll('.card .k')].some(e => e.textContent.endsWith(' ' + k)),
                             firstKey, { timeout: 20000 });
  assert.deepEqual(errors, []);
  console.log(`page: ${cards.length} cards, ${bars} disease bars, similar patients ok`);
} finally {
  await browser.close();
}

// 3. The screenshot shows the page: header colour, dark CT thumbnails,
// bright lung/body pixels inside them, and the red probability bars.
const png = PNG.sync.read(fs.readFileSync(shot));
let header = 0, dark = 0, bright = 0, red = 0;
for (let i = 0; i < png.data.length; i += 4) {
  const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
  if (r === 0x1c && g === 0x2a && b === 0x44) header++;
  if (r < 80 && r === g && g === b) dark++;  // lung-window air: dark grey
  if (r > 200 && g > 200 && b > 200 && Math.abs(r - b) < 8) bright++;
  if (r > 200 && g < 110 && b < 110) red++;
}
const px = png.width * png.height;
console.log(`screenshot ${png.width}x${png.height}: header ${header}, dark ${dark}, bright ${bright}, red ${red}`);
assert.ok(header > px * 0.02, 'header band visible');
assert.ok(dark > px * 0.02, 'CT thumbnails (dark background) visible');
assert.ok(red > 200, 'probability bars visible');
console.log('e2e: ok');
