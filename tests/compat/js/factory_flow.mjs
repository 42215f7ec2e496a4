// Every repository method of every factory entity, and the PIN login, through the
// factory app's own client code (factory_api.mjs) against a running site.
// Prints one JSON line: the ids of the rows it left, for the test to read back natively.
import assert from 'node:assert/strict';
import {
  ApiError, createApiRepository, getCurrentUser, loginWithPin, logout,
} from './factory_api.mjs';

const PIN = process.env.FACTORY_PIN;
const OTHER_PIN = process.env.FACTORY_OTHER_PIN; // another user's PIN (unique PINs)
const stamp = Date.now().toString(36);

async function refused(promise, status) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, status, JSON.stringify(error.data));
    return error;
  }
  assert.fail(`expected ${status}`);
}

// ---- auth: a wrong PIN, then the right one, me, logout, me again
await refused(loginWithPin('0000'), 401);
assert.equal(await getCurrentUser(), null);
const { token, user } = await loginWithPin(PIN);
assert.ok(token && typeof token === 'string');
assert.equal(user.role, 'ADMIN');
const me = await getCurrentUser();
assert.equal(me.id, user.id);
await logout();
assert.equal(localStorage.getItem('auth_token'), null);
assert.equal(await getCurrentUser(), null);
await loginWithPin(PIN);

const repos = Object.fromEntries(
  ['machines', 'jobs', 'projects', 'users', 'clients', 'inventory', 'alerts', 'messages',
    'events'].map((name) => [name, createApiRepository(`/api/${name}`)]),
);

// One new row per collection, in the old app's own field names and enum values.
const bodies = {
  clients: () => ({ id: `c-${stamp}`, name: 'Cliente JS', taxId: 'B12345678', email: 'js@cliente.example' }),
  projects: (ids) => ({ id: `p-${stamp}`, name: 'Obra JS', clientId: ids.clients, status: 'ACTIVE', startDate: '2026-12-01', dueDate: '2027-01-15' }),
  machines: () => ({ id: `m-${stamp}`, name: 'Conformadora JS', type: 'CONFORMADORA', status: 'IDLE', operatorIds: [], totalMetersProduced: 1500, isActive: true, color: '#112233' }),
  jobs: (ids) => ({ id: `j-${stamp}`, title: 'Perfil JS', machineId: ids.machines, projectId: ids.projects, status: 'PENDING', priority: 'HIGH', quantityMeters: 1200, producedMeters: 0, progress: 0, dueDate: '2026-12-20T08:00:00.000Z' }),
  inventory: () => ({ id: `i-${stamp}`, sku: `JS-${stamp}`, name: 'Bobina JS', unit: 'kg', quantity: 250.5, minQuantity: 20, location: 'Nave 2' }),
  alerts: (ids) => ({ id: `a-${stamp}`, machineId: ids.machines, severity: 'WARNING', message: 'Atasco JS', dismissed: false }),
  messages: (ids) => ({ id: `msg-${stamp}`, fromUserId: user.id, toUserId: user.id, body: 'Hola desde JS', read: false }),
  events: () => ({ id: `e-${stamp}`, type: 'MACHINE_STATUS', userId: user.id, payload: { note: 'js' }, timestamp: '2026-12-01T10:00:00.000Z' }),
  users: () => ({ id: `u-${stamp}`, name: 'Operaria JS', role: 'OPERATOR', email: `op-${stamp}@example.com`, pin: '749163', isActive: true }),
};
const changes = {
  clients: { phone: '+34 600 000 000' },
  projects: { status: 'ON_HOLD' },
  machines: { status: 'RUNNING', totalMetersProduced: 1500 },
  // The app sends back the derived values it shows: unchanged, they are no change.
  jobs: { status: 'IN_PROGRESS', producedMeters: 0, progress: 0 },
  inventory: { quantity: 240, minQuantity: 30 },
  alerts: { dismissed: true },
  messages: { read: true },
  users: { role: 'MANAGER', name: 'Encargada JS' },
};
// Derived values are computed by the site (from production reports): the app can no
// longer set them by hand; the site refuses with 422 derived_field, naming the app's key.
const derivedChanges = {
  machines: { totalMetersProduced: 1600.5 },
  jobs: { producedMeters: 300, progress: 25 },
};

const kept = {};
for (const name of ['clients', 'projects', 'machines', 'jobs', 'inventory', 'alerts', 'messages', 'events', 'users']) {
  const repo = repos[name];
  const before = await repo.getAll();
  assert.ok(Array.isArray(before), `${name}: getAll is an array`);
  const body = bodies[name](kept);
  const created = await repo.create(body);
  assert.equal(created.id, body.id, `${name}: the app's id is kept`);
  for (const [key, value] of Object.entries(body)) {
    if (key === 'pin') continue; // never answered
    assert.deepEqual(created[key], value, `${name}.${key}`);
  }
  assert.ok(!('pin' in created) && !('pinHash' in created), `${name}: no PIN in answers`);
  const all = await repo.getAll();
  assert.equal(all.length, before.length + 1, `${name}: getAll has every row`);
  assert.deepEqual(await repo.getById(created.id), created, `${name}: getById`);
  assert.equal(await repo.getById(`missing-${stamp}`), null, `${name}: unknown id -> null`);
  const found = await repo.query((row) => row.id === created.id);
  assert.equal(found.length, 1, `${name}: query`);

  if (name === 'events') {
    // Events are a log: the site refuses changes to them, as the native API does.
    await refused(repo.update(created.id, { type: 'OTHER' }), 403);
    await refused(repo.delete(created.id), 403);
    kept[name] = created.id;
    continue;
  }
  const updated = await repo.update(created.id, changes[name]);
  for (const [key, value] of Object.entries(changes[name])) {
    assert.deepEqual(updated[key], value, `${name}.${key} after update`);
  }
  assert.equal(updated.version, 2, `${name}: one update, one version`);
  if (derivedChanges[name]) {
    const error = await refused(repo.update(created.id, derivedChanges[name]), 422);
    assert.equal(error.data.code, 'derived_field', JSON.stringify(error.data));
  }
  // A second row, deleted: gone for getById and getAll.
  const second = await repo.create({ ...bodies[name](kept), id: `${body.id}-2`, ...(name === 'inventory' ? { sku: `JS2-${stamp}` } : {}), ...(name === 'users' ? { email: `op2-${stamp}@example.com`, pin: '749271' } : {}) });
  await repo.delete(second.id);
  assert.equal(await repo.getById(second.id), null, `${name}: deleted`);
  assert.ok(!(await repo.getAll()).some((row) => row.id === second.id));
  kept[name] = created.id;
}

// Unique PINs while PIN-only login is on: another user's PIN is refused.
await refused(repos.users.create({ name: 'Duplicada', role: 'OPERATOR', pin: OTHER_PIN }), 409);
// The new operator logs in with the PIN given through the app.
await logout();
const operator = await loginWithPin('749163');
assert.equal(operator.user.id, kept.users);
assert.equal(operator.user.role, 'MANAGER');
await logout();

console.log(JSON.stringify({ kept }));
