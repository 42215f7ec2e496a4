// Documents shaped like Structura's rows: bench_sync.py passes a job row as the server
// sends it (row_to_json) and the peer writes N copies with their own id, title and
// sequence, as seed_jobs does. Ids are UUIDv7 (time-ordered, as core.clock.uuid7), so
// the docs' _id order is their sequence order.
"use strict";

const crypto = require("crypto");

let lastMs = 0;
let counter = 0;

function uuid7() {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs;
    counter += 1;
    if (counter > 0xfff) {
      ms = lastMs = lastMs + 1;
      counter = 0;
    }
  } else {
    lastMs = ms;
    counter = 0;
  }
  const t = ms.toString(16).padStart(12, "0");
  const r = crypto.randomBytes(8).toString("hex");
  const variant = (8 + (parseInt(r[0], 16) & 3)).toString(16);
  const c = counter.toString(16).padStart(3, "0");
  return `${t.slice(0, 8)}-${t.slice(8)}-7${c}-${variant}${r.slice(1, 4)}-${r.slice(4, 16)}`;
}

function toDoc(row, id) {
  const doc = { ...row, _id: id };
  delete doc.id;
  return doc;
}

// Docs [start, end) shaped like `template` (a job row), as seed_jobs makes them.
function jobDocs(template, start, end) {
  const docs = [];
  for (let i = start; i < end; i++) {
    docs.push(toDoc({ ...template, title: `Job ${i}`, sequence: i }, uuid7()));
  }
  return docs;
}

module.exports = { uuid7, toDoc, jobDocs };
