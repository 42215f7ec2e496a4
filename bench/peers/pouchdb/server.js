// PouchDB server for bench/bench_sync.py: express-pouchdb over PouchDB's LevelDB adapter
// (leveldown, durable on disk), listening on 127.0.0.1 on a free port.
//
//   node server.js --dir DIR
//
// Prints one JSON line on stdout once listening: {"port": N}. When started with fork()
// (peer.js does) it also answers IPC messages:
//   {id, cmd: "seed", db, n, template}  -> N docs shaped like the template written with
//                                          bulkDocs in chunks of 10,000 (like seed_jobs)
//   {id, cmd: "stop"}                  -> closes and exits
"use strict";

const fs = require("fs");
const path = require("path");
const express = require("express");
const PouchDB = require("pouchdb");
const { jobDocs } = require("./shape");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const dir = path.resolve(arg("--dir", "."));
fs.mkdirSync(dir, { recursive: true });
const ServerPouch = PouchDB.defaults({ prefix: dir + path.sep });
const app = express();
app.use(
  "/",
  require("express-pouchdb")(ServerPouch, {
    mode: "minimumForPouchDB",
    // No gzip on loopback: Structura's central server does not compress either, and
    // compressing 100,000 docs would cost the peer CPU the comparison is not about.
    overrideMode: { exclude: ["compression"] },
    inMemoryConfig: true,
    logPath: path.join(dir, "log.txt"),
  }),
);

async function seed(msg) {
  const db = new ServerPouch(msg.db);
  const t0 = process.hrtime.bigint();
  const chunk = 10000;
  for (let start = 0; start < msg.n; start += chunk) {
    const docs = jobDocs(msg.template, start, Math.min(msg.n, start + chunk));
    const res = await db.bulkDocs(docs);
    const bad = res.filter((r) => r.error);
    if (bad.length) throw new Error(`seed: ${bad.length} errors, first ${JSON.stringify(bad[0])}`);
  }
  const info = await db.info();
  await db.close();
  return { seeded: info.doc_count, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
  if (process.send) process.send({ ready: true, port: server.address().port });
});

process.on("message", async (msg) => {
  try {
    if (msg.cmd === "seed") {
      process.send({ id: msg.id, ok: true, result: await seed(msg) });
    } else if (msg.cmd === "stop") {
      server.close();
      process.send({ id: msg.id, ok: true, result: {} }, () => process.exit(0));
    } else {
      throw new Error(`unknown command ${msg.cmd}`);
    }
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String((err && err.stack) || err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
