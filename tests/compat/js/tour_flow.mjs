// The tour app's own client code (tour_api.mjs) against a running site: accounts, the
// refresh after a 401, the ShowStore, batch, and the offline sync trio with a replayed
// flush. Prints one JSON line with the ids it left, for the test to read back natively.
import assert from 'node:assert/strict';
import client, { ShowStore, login, logout, register } from './tour_api.mjs';

const stamp = Date.now().toString(36);
const EMAIL = `tour-${stamp}@example.com`;
const EXPIRED = process.env.EXPIRED_TOKEN; // signed by the site, expired an hour ago

async function status(promise) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error.response, String(error));
    return error.response;
  }
  assert.fail('expected a refusal');
}

// ---- accounts (2.1)
const reg = await register(EMAIL, 'a long password', 'Tour Manager');
assert.ok(reg.userId && reg.token && reg.refreshToken);
assert.equal((await status(client.post('/auth/register', { email: EMAIL, password: 'a long password', fullName: 'X' }))).status, 409);
assert.equal((await status(client.post('/auth/register', { email: 'not-an-email', password: 'short', fullName: '' }))).status, 400);
localStorage.clear();
assert.equal((await status(login(EMAIL, 'wrong password'))).status, 401);
const session = await login(EMAIL, 'a long password');
assert.equal(session.userId, reg.userId);
assert.equal(session.user.email, EMAIL);
const { data: meData } = await client.get('/auth/me');
assert.equal(meData.user.id, reg.userId);
assert.equal(meData.user.fullName, 'Tour Manager');

// ---- ShowStore (4.2)
const store = new ShowStore();
let changes = 0;
store.on('change', () => { changes += 1; });
await store.loadShows();
const seed = store.shows.find(s => s.id === 'show-seed');
assert.ok(seed, 'the seeded show is listed');
assert.equal(seed.feeCurrency, 'EUR');
assert.equal(seed.fee, 12000);
assert.equal(seed.costs.length, 1);
const before = store.shows.length;
await store.createShow({
  id: `show-${stamp}`, city: 'Bilbao', country: 'ES', dateEvent: '2027-03-01T20:00:00.000Z',
  fee: 8000, feeCurrency: 'EUR', mgmtAgencyPct: 10, status: 'pending', venue: 'BEC',
  costs: [{ id: `sc-${stamp}`, type: 'light', amount: 450.5, currency: 'EUR' }],
});
assert.equal(store.shows.length, before + 1);
const created = store.shows.find(s => s.id === `show-${stamp}`);
assert.equal(created.date, '2027-03-01T20:00:00.000Z');
assert.equal(created.costs[0].amount, 450.5);
await store.updateShow(created.id, { status: 'confirmed', fee: 8500 });
const updated = store.shows.find(s => s.id === created.id);
assert.equal(updated.status, 'confirmed');
assert.equal(updated.fee, 8500);
assert.equal(updated.version, 2);
assert.equal(changes, 3);

// ---- refresh after a 401: the expired token is refused, refreshed, and retried
localStorage.setItem('accessToken', EXPIRED);
await store.loadShows();
assert.notEqual(localStorage.getItem('accessToken'), EXPIRED);
assert.ok(store.shows.some(s => s.id === created.id));

// ---- single show, errors in the plan's statuses (2.2)
const { data: one } = await client.get(`/shows/${created.id}`);
assert.equal(one.show.id, created.id);
assert.equal((await status(client.get('/shows/nope'))).status, 404);
const stale = await status(client.patch(`/shows/${created.id}`, { fee: 1, version: 1 }));
assert.equal(stale.status, 409);
assert.equal(stale.data.current.fee, 8500);
const bad = await status(client.post('/shows', { city: 'X', country: 'ES', dateEvent: '2027-01-01T00:00:00Z', fee: -5, feeCurrency: 'EUR' }));
assert.equal(bad.status, 400);
assert.equal(bad.data.errors[0].field, 'fee');
const { data: filtered } = await client.get('/shows?status=confirmed&limit=20&offset=0');
assert.ok(filtered.shows.every(s => s.status === 'confirmed'));
assert.ok(filtered.total >= 2);

// ---- batch
const { data: batch } = await client.post('/shows/batch', {
  operations: [
    { op: 'create', data: { id: `show-b-${stamp}`, city: 'Vigo', country: 'ES', dateEvent: '2027-04-01T20:00:00Z', fee: 3000, feeCurrency: 'EUR' } },
    { op: 'update', data: { id: created.id, venue: 'Bizkaia Arena' } },
    { op: 'create', data: { city: 'Nowhere', country: 'XX', dateEvent: '2027-04-01T20:00:00Z', fee: 1, feeCurrency: 'EUR' } },
    { op: 'delete', data: { id: `show-b-${stamp}` } },
  ],
});
assert.deepEqual(batch.results.map(r => r.success), [true, true, false, true]);
assert.equal(batch.results[2].status, 400);
assert.equal(batch.results[1].show.venue, 'Bizkaia Arena');

// ---- sync (2.3): events since a cursor
const { data: first } = await client.get('/sync/events?since=0');
assert.equal(typeof first.timestamp, 'number');
assert.ok(first.events.some(e => e.resourceId === created.id));
const cursor = first.timestamp;
const { data: none } = await client.get(`/sync/events?since=${cursor}`);
assert.equal(none.events.length, 0);
assert.equal(none.timestamp, cursor);

// flush: a change without a version (last write wins), one made on an old version
// (a conflict), a create; then the same queue again (a replay after a lost answer)
const queue = {
  operations: [
    { id: `op-1-${stamp}`, type: 'update', resourceType: 'show', resourceId: created.id, payload: { notes: 'offline edit' } },
    { id: `op-2-${stamp}`, type: 'update', resourceType: 'show', resourceId: created.id, payload: { fee: 9999, version: 2 } },
    { id: `op-3-${stamp}`, type: 'create', resourceType: 'show', resourceId: `show-o-${stamp}`, payload: { city: 'Gijón', country: 'ES', dateEvent: '2027-05-01T20:00:00Z', fee: 2500, feeCurrency: 'EUR' } },
  ],
};
const { data: flushed } = await client.post('/sync/flush', queue);
assert.deepEqual(flushed.results.map(r => r.success), [true, false, true]);
assert.equal(flushed.conflicts.length, 1);
const conflict = flushed.conflicts[0];
assert.equal(conflict.resourceId, created.id);
assert.equal(conflict.local.fee, 9999);
assert.equal(conflict.server.fee, 8500);
const { data: replay } = await client.post('/sync/flush', queue);
assert.deepEqual(replay, flushed, 'a replay answers the same and applies nothing');
const { data: after } = await client.get(`/shows/${created.id}`);
assert.equal(after.show.notes, 'offline edit');
const versionAfterFlush = after.show.version;

const { data: since } = await client.get(`/sync/events?since=${cursor}`);
assert.ok(since.events.some(e => e.resourceId === `show-o-${stamp}` && e.type === 'create'));
assert.ok(since.events.some(e => e.resourceId === created.id && e.changes.notes));
assert.ok(since.timestamp > cursor);

// the user keeps the offline fee
const { data: resolved } = await client.post('/sync/resolve-conflicts', {
  conflicts: [{ ...conflict, resolution: 'local' }],
});
assert.equal(resolved.resolved[0].show.fee, 9999);
assert.equal(resolved.resolved[0].show.version, versionAfterFlush + 1);
const { data: replayAfter } = await client.post('/sync/flush', queue);
assert.deepEqual(replayAfter, flushed, 'still answered from the applied ops');
assert.equal((await client.get(`/shows/${created.id}`)).data.show.fee, 9999);

// ---- delete, logout
await store.createShow({ id: `show-d-${stamp}`, city: 'León', country: 'ES', dateEvent: '2027-06-01T20:00:00Z', fee: 100, feeCurrency: 'EUR' });
await store.deleteShow(`show-d-${stamp}`);
assert.equal((await status(client.get(`/shows/show-d-${stamp}`))).status, 404);
const { data: bye } = await client.delete(`/shows/show-o-${stamp}`);
assert.deepEqual(bye, { success: true });
assert.deepEqual(await logout(), { success: true });

console.log(JSON.stringify({ shows: [created.id], deleted: [`show-d-${stamp}`, `show-o-${stamp}`, `show-b-${stamp}`], user: reg.userId }));
