// oidc-provider's storage for the tests: in memory, one store for the whole process.
//
// The library's own memory adapter gives each Provider instance a store of its own (and keeps at
// most about 2000 entries). server.js builds a new Provider when the signing keys rotate, and the
// grants, sessions, codes and refresh tokens made before must outlive that; so this store is
// shared, unbounded (a test run is short), and drops entries when they expire.

const store = new Map(); // "Model:id" -> {payload, expiresAt}; index keys hold an id or a Set

const now = () => Date.now() / 1000;
const grantKey = (grantId) => `grant:${grantId}`;

function get(key) {
  const entry = store.get(key);
  if (entry === undefined) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

function set(key, value, expiresIn, clockTolerance) {
  const expiresAt = typeof expiresIn === 'number' ? now() + expiresIn + clockTolerance : undefined;
  store.set(key, { value, expiresAt });
}

export function sharedMemoryAdapter(clockTolerance) {
  return (model) => ({
    key(id) {
      return `${model}:${id}`;
    },

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      set(key, payload, expiresIn, clockTolerance);
      if (payload.grantId) {
        // Every token of a grant, so that revoking the grant finds them all.
        const members = get(grantKey(payload.grantId)) ?? new Set();
        members.add(key);
        set(grantKey(payload.grantId), members, undefined, 0);
      }
      if (payload.uid) set(`sessionUid:${payload.uid}`, id, expiresIn, clockTolerance);
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn, clockTolerance);
    },

    async find(id) {
      return get(this.key(id));
    },

    async findByUid(uid) {
      const id = get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    },

    async findByUserCode(userCode) {
      const id = get(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    },

    async consume(id) {
      const payload = get(this.key(id));
      if (payload) payload.consumed = Math.floor(now());
    },

    async destroy(id) {
      store.delete(this.key(id));
    },

    async revokeByGrantId(grantId) {
      for (const key of get(grantKey(grantId)) ?? []) store.delete(key);
      store.delete(grantKey(grantId));
    },
  });
}
