// PouchDB peer of bench/bench_sync.py: the same three sync measurements with PouchDB
// (node, LevelDB adapter: leveldown, on disk) against a PouchDB server (server.js,
// express-pouchdb over LevelDB) in its own process on 127.0.0.1.
//
//   node peer.js [--jobs 100000] [--ops 10000] [--samples 200] [--batch-size 1000]
//       runs setup, bootstrap, push and latency and prints one JSON line for each
//   node peer.js --stdin
//       reads JSON commands, one a line, and answers each with one JSON line on stdout
//       ({"ok": true, "result": ...} or {"ok": false, "error": ...}); bench_sync.py uses
//       this to interleave the peer's measurements with Structura's in the same run:
//         {"cmd": "setup", "jobs": N, "template": {job row}, "batch_size": B}
//         {"cmd": "bootstrap"}            replicate.from the server into an empty local db
//         {"cmd": "push", "ops": M, "conflict_every": 10}
//                                         M local edits (every 10th also edited on the
//                                         server), then replicate.to the server
//         {"cmd": "latency", "samples": S, "client": {client row}, "round": R}
//                                         doc written in db A, live sync A <-> server <-> B,
//                                         ms until B's changes feed shows it
//         {"cmd": "stop"}
// Logs go to stderr; stdout carries only the JSON lines.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const { fork } = require("child_process");
const PouchDB = require("pouchdb");
const { toDoc } = require("./shape");

const state = {
  tmp: null,
  server: null,
  base: null,
  batchSize: 1000,
  template: null,
  local: null,
  pending: new Map(),
  nextId: 1,
};

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function serverCall(msg, server = state.server) {
  const id = state.nextId++;
  return new Promise((resolve, reject) => {
    state.pending.set(id, { resolve, reject });
    server.send({ ...msg, id });
  });
}

async function setup(cmd) {
  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "structura-pouch-"));
  state.batchSize = cmd.batch_size || state.batchSize;
  state.template = cmd.template;
  const server = fork(path.join(__dirname, "server.js"), ["--dir", path.join(state.tmp, "server")], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  state.server = server;
  const port = await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    server.on("message", (m) => {
      if (m.ready) return resolve(m.port);
      const p = state.pending.get(m.id);
      if (!p) return;
      state.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
  });
  state.base = `http://127.0.0.1:${port}`;
  const seeded = await serverCall({ cmd: "seed", db: "jobs", n: cmd.jobs, template: cmd.template });
  return {
    port,
    seeded: seeded.seeded,
    seed_seconds: seeded.seconds,
    adapter: "leveldb",
    pouchdb: require("pouchdb/package.json").version,
    express_pouchdb: require("express-pouchdb/package.json").version,
    batch_size: state.batchSize,
    server_pid: server.pid,
  };
}

async function bootstrap() {
  const local = new PouchDB(path.join(state.tmp, "local"));
  state.local = local;
  const t0 = process.hrtime.bigint();
  const res = await local.replicate.from(`${state.base}/jobs`, { batch_size: state.batchSize });
  const t = seconds(t0);
  const info = await local.info();
  // The push direction's checkpoint, as a site that has synced once has it: without it
  // the first replicate.to would compare all N bootstrapped docs with the server.
  const t1 = process.hrtime.bigint();
  await local.replicate.to(`${state.base}/jobs`, { batch_size: state.batchSize });
  return {
    seconds: t,
    docs: info.doc_count,
    docs_written: res.docs_written,
    adapter: local.adapter,
    batch_size: state.batchSize,
    first_push_checkpoint_seconds: seconds(t1),
  };
}

async function push(cmd) {
  const local = state.local;
  const remote = new PouchDB(`${state.base}/jobs`);
  const every = cmd.conflict_every || 10;
  // The first M docs by sequence (UUIDv7 ids: _id order is sequence order).
  const page = await local.allDocs({ limit: cmd.ops, include_docs: true });
  const docs = page.rows.map((r) => r.doc);
  const now = () => new Date().toISOString();
  // Every tenth doc also changes on the server, on the same field: real conflicts.
  const central = await remote.allDocs({
    keys: docs.filter((_, i) => i % every === 0).map((d) => d._id),
    include_docs: true,
  });
  const centralEdits = central.rows.map((r) => ({
    ...r.doc,
    title: "central edit",
    version: r.doc.version + 1,
    updated_at: now(),
  }));
  await remote.bulkDocs(centralEdits);
  // M local edits, each its own write as the site's queued ops are.
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i];
    const res = await local.put({
      ...d,
      title: `site edit ${i}`,
      priority: "HIGH",
      version: d.version + 1,
      updated_at: now(),
    });
    if (!res.ok) throw new Error(`local edit ${i} failed`);
  }
  const t0 = process.hrtime.bigint();
  const res = await local.replicate.to(remote, { batch_size: state.batchSize });
  const t = seconds(t0);
  const check = await remote.allDocs({
    keys: centralEdits.map((d) => d._id),
    include_docs: true,
    conflicts: true,
  });
  const conflicts = check.rows.filter((r) => r.doc && r.doc._conflicts && r.doc._conflicts.length).length;
  return {
    seconds: t,
    docs_written: res.docs_written,
    docs_read: res.docs_read,
    conflicts,
    central_edits: centralEdits.length,
    batch_size: state.batchSize,
  };
}

async function latency(cmd) {
  // Each round (a block of samples between two of Structura's) on fresh databases.
  const round = cmd.round || 0;
  const url = `${state.base}/latency${round}`;
  const a = new PouchDB(path.join(state.tmp, `A${round}`));
  const b = new PouchDB(path.join(state.tmp, `B${round}`));
  const row = cmd.client || { name: "latency", phone: null, version: 1 };
  const doc = toDoc(row, `${row.id || "latency-client"}-${round}`);
  await a.put(doc);
  const opts = { live: true, retry: true, batch_size: state.batchSize };
  const syncA = a.sync(url, opts);
  const syncB = b.sync(url, opts);
  for (let i = 0; ; i++) {
    try {
      await b.get(doc._id);
      break;
    } catch (err) {
      if (i > 500) throw new Error("the first doc never reached B");
      await sleep(20);
    }
  }
  let expected = null;
  let arrived = null;
  const feed = b.changes({ live: true, since: "now", include_docs: true }).on("change", (c) => {
    if (c.id === doc._id && c.doc && c.doc.phone === expected && arrived) arrived();
  });
  await sleep(500);
  const lat = [];
  let missed = 0;
  for (let i = 0; i < cmd.samples; i++) {
    expected = String(i);
    const seen = new Promise((resolve) => {
      arrived = resolve;
    });
    const t0 = process.hrtime.bigint();
    const cur = await a.get(doc._id);
    await a.put({ ...cur, phone: expected, version: (cur.version || 1) + 1 });
    const timer = sleep(5000).then(() => false);
    const ok = await Promise.race([seen.then(() => true), timer]);
    if (!ok) {
      missed += 1;
      process.stderr.write(`pouch latency sample ${i} did not arrive within 5 s\n`);
      continue;
    }
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  arrived = null;
  feed.cancel();
  syncA.cancel();
  syncB.cancel();
  await sleep(100);
  await a.close();
  await b.close();
  return { latencies_ms: lat, missed };
}

async function stop() {
  const { local, server, tmp } = state;
  state.local = state.server = state.tmp = null;
  if (local) await local.close();
  if (server && server.connected) await Promise.race([serverCall({ cmd: "stop" }, server), sleep(5000)]);
  if (server && server.exitCode === null) server.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  return {};
}

const commands = { setup, bootstrap, push, latency, stop };

async function run(cmd) {
  const fn = commands[cmd.cmd];
  if (!fn) throw new Error(`unknown command ${cmd.cmd}`);
  return fn(cmd);
}

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function standalone() {
  const template = {
    project_id: null, machine_id: "01a23529-752d-7d65-b5b7-39064104ac9c", title: "Job 0",
    status: "PENDING", priority: "NORMAL", sequence: 0, unit: "m", quantity: "120.500",
    produced_qty: "0", scrap_qty: "0", progress: "0", operator_ids: [], due_at: null,
    started_at: null, completed_at: null, short_close_reason: null, doc_number: null,
    org_id: "01a23529-7482-7d8b-83c0-2c1d35efef91", id: "x", version: 1, sync_version: 0,
    field_versions: {}, created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(), updated_by: null, deleted_at: null, extra: null,
  };
  const jobs = arg("--jobs", 100000);
  const steps = [
    { cmd: "setup", jobs, template, batch_size: arg("--batch-size", 1000) },
    { cmd: "bootstrap" },
    { cmd: "push", ops: Math.min(arg("--ops", 10000), jobs) },
    { cmd: "latency", samples: arg("--samples", 200) },
  ];
  try {
    for (const step of steps) {
      const result = await run(step);
      if (step.cmd === "latency") {
        const l = [...result.latencies_ms].sort((x, y) => x - y);
        const p = (q) => l[Math.min(l.length - 1, Math.floor(q * l.length))];
        result.p50 = p(0.5);
        result.p95 = p(0.95);
        result.p99 = p(0.99);
        delete result.latencies_ms;
      }
      process.stdout.write(JSON.stringify({ cmd: step.cmd, result, load: os.loadavg() }) + "\n");
    }
  } finally {
    await stop();
  }
}

async function serveStdin() {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let out;
    try {
      out = { ok: true, result: await run(JSON.parse(line)) };
    } catch (err) {
      out = { ok: false, error: String((err && err.stack) || err) };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
  await stop();
}

(process.argv.includes("--stdin") ? serveStdin() : standalone()).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(String((err && err.stack) || err) + "\n");
    process.exit(1);
  },
);
