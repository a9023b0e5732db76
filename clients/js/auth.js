// jwt-authd browser client: a plain ES module (no build step, no dependencies, no framework).
//
//   import { createAuthClient } from '/assets/auth.js';
//   const auth = createAuthClient({ accessTtl: 900 });
//   const user = await auth.start();          // who is signed in (GET /api/auth/me), or null
//   const result = await auth.login(email, password);   // the user, or a second-factor challenge:
//   if (isMfaChallenge(result)) await auth.verifyMfa(codeFromTheUser);
//   const response = await auth.fetchWithAuth('/api/protected/items');
//
// The tokens live in the service's HttpOnly cookies (access_token, Path=/; refresh_token, Path=/api/auth): this
// module never sees them and never stores them. It keeps in localStorage only the time of the last renewal (no
// user data, no tokens), to coordinate the tabs of one browser. See clients/js/README.md for the design:
//
// - fetchWithAuth: on 401, refresh once and retry once.
// - Automatic refresh: the access token's expiry cannot be read from an HttpOnly cookie, and the cookie-mode
//   answers carry no lifetime, so the client assumes the lifetime it is given (`accessTtl`, default 900 s as the
//   service's default JWT_ACCESS_TTL) counted from the last renewal it saw in any tab, and refreshes at
//   `refreshAt` (80 %) of it. A wrong guess costs an extra refresh or one 401-then-retry, never a sign-out.
// - Single flight across tabs: every refresh (and login, register, logout) runs under one exclusive Web Lock
//   (navigator.locks; a localStorage lease where Web Locks are missing), so two tabs never present the same
//   refresh token. Inside the lock a tab that finds a renewal completed after it decided to refresh skips the
//   request: the cookies it shares with the other tab are already fresh.
// - Tabs tell each other about renewals and sign-outs over a BroadcastChannel (storage events where it is
//   missing).
// - Second factors (#17): login() of a user with one resolves to `{mfaRequired: true, factors}` (isMfaChallenge)
//   instead of the user: no session yet, the service holds the pending sign-in in its own HttpOnly cookie until
//   verifyMfa() gives a code. Routes that change the factors need a recent sign-in (403
//   `reauthentication_required`): reauthenticate() with the password or a code, then try again.
// - Passkeys (#18): registerPasskey(), loginWithPasskey(), startPasskeyAutofill() (conditional mediation),
//   verifyMfaWithPasskey(), reauthenticateWithPasskey(). Each asks the service for the options, runs the browser's
//   ceremony (navigator.credentials.create/get) and sends the credential back. One ceremony at a time: browsers
//   refuse a second request while one is pending, so starting one aborts the one waiting (an autofill). The
//   options and credentials travel as JSON with binary values in base64url (WebAuthn's own JSON forms), converted
//   by the browser where it can (parse*OptionsFromJSON, toJSON), else here (fromBase64url / toBase64url).

const DEFAULT_API_BASE = '/api/auth';

/** An error answer of the service: `code` is its stable error code (`invalid_credentials`, `throttled`, ...). */
export class AuthError extends Error {
  constructor(message, { status = 0, code = 'error', retryAfter = null, fields = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AuthError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.fields = fields;
  }
}

/**
 * True for what login() resolves to when the sign-in needs its second step (`{mfaRequired: true, factors}`),
 * false for the user.
 */
export function isMfaChallenge(result) {
  return result !== null && typeof result === 'object' && result.mfaRequired === true;
}

// 401 answers about what was presented (a wrong password or code), not about the session: no refresh, no
// retry (a retry would count the same wrong attempt twice), and the session is not gone.
const WRONG_PROOF = new Set(['invalid_credentials', 'invalid_code']);

async function wrongProof(response) {
  try {
    return WRONG_PROOF.has((await response.clone().json())?.code);
  } catch {
    return false;
  }
}

/**
 * `candidate` if it is a path on this site, else `fallback`: the same rule as the service's callbackUrl and
 * return_to check (a single leading "/", no "//", no backslash, no encoded slash or backslash, no control
 * characters or spaces, at most 2048 bytes). Use it before navigating to a URL taken from the query string.
 */
export function safeRedirectPath(candidate, fallback = '/dashboard') {
  if (typeof candidate !== 'string' || !candidate.startsWith('/') || candidate.length > 2048) return fallback;
  const lowered = candidate.toLowerCase();
  if (candidate.includes('//') || candidate.includes('\\') || lowered.includes('%2f') || lowered.includes('%5c')) {
    return fallback;
  }
  for (const ch of candidate) {
    const code = ch.codePointAt(0);
    if (code < 0x21 || code === 0x7f) return fallback;
  }
  return candidate;
}

/** Creates a client. All options are optional; see auth.d.ts for their meaning. */
export function createAuthClient(options = {}) {
  return new AuthClient(options);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `'123456'`, `{code}` or `{recoveryCode}` as the body of /mfa/verify and /reauthenticate. */
function secondFactor(proof) {
  if (typeof proof === 'string' || typeof proof === 'number') return { code: String(proof) };
  if (proof && typeof proof === 'object') {
    if (typeof proof.recoveryCode === 'string' && proof.code == null) return { recoveryCode: proof.recoveryCode };
    if (proof.code != null && proof.recoveryCode == null) return { code: String(proof.code) };
  }
  throw new TypeError('expected a code, {code} or {recoveryCode}');
}

/** `{password}`, or a second factor as secondFactor() takes it, as the body of /reauthenticate. */
function reauthentication(proof) {
  if (proof && typeof proof === 'object' && proof.password != null) {
    if (proof.code != null || proof.recoveryCode != null) throw new TypeError('expected one of password, code or recoveryCode');
    return { password: String(proof.password) };
  }
  return secondFactor(proof);
}

// --- passkeys: conversions and the browser's ceremony ---------------------------------------------------------

/** base64url without padding (WebAuthn's JSON form of binary values) of an ArrayBuffer or a view of one. */
function toBase64url(bytes) {
  const view = ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  let binary = '';
  for (let at = 0; at < view.length; at += 0x8000) binary += String.fromCharCode(...view.subarray(at, at + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The bytes of a base64url string (padding optional) as an ArrayBuffer; a TypeError for anything else. */
function fromBase64url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new TypeError('expected base64url');
  const binary = atob(text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = new Uint8Array(binary.length);
  for (let at = 0; at < binary.length; at++) bytes[at] = binary.charCodeAt(at);
  return bytes.buffer;
}

/** Whether this page can run WebAuthn ceremonies: the API is there and the page is a secure context. */
function webAuthnAvailable() {
  return typeof window !== 'undefined' && window.isSecureContext === true && typeof PublicKeyCredential === 'function'
    && typeof navigator.credentials?.create === 'function' && typeof navigator.credentials?.get === 'function';
}

/**
 * The service's options in JSON (PublicKeyCredentialCreationOptionsJSON for 'create', ...RequestOptionsJSON for
 * 'get') as navigator.credentials takes them: by the browser's parse*FromJSON where it has it, else by hand (the
 * binary members: challenge, user.id, the credential descriptors' ids).
 */
function publicKeyOptions(kind, json) {
  const parse = kind === 'create'
    ? PublicKeyCredential.parseCreationOptionsFromJSON : PublicKeyCredential.parseRequestOptionsFromJSON;
  if (typeof parse === 'function') return parse.call(PublicKeyCredential, json);
  const descriptors = (list) => (Array.isArray(list) ? list.map((item) => ({ ...item, id: fromBase64url(item.id) })) : []);
  const options = { ...json, challenge: fromBase64url(json.challenge) };
  if (kind === 'create') {
    options.user = { ...json.user, id: fromBase64url(json.user.id) };
    options.excludeCredentials = descriptors(json.excludeCredentials);
  } else {
    options.allowCredentials = descriptors(json.allowCredentials);
  }
  return options;
}

/** A PublicKeyCredential as the service takes it: credential.toJSON() where the browser has it, else the same by hand. */
function credentialJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const source = credential.response;
  const response = { clientDataJSON: toBase64url(source.clientDataJSON) };
  if (source.attestationObject) {
    // A registration (AuthenticatorAttestationResponse); the getters came with WebAuthn Level 2 and 3.
    response.attestationObject = toBase64url(source.attestationObject);
    response.transports = typeof source.getTransports === 'function' ? source.getTransports() : [];
    if (typeof source.getAuthenticatorData === 'function') {
      response.authenticatorData = toBase64url(source.getAuthenticatorData());
    }
    const publicKey = typeof source.getPublicKey === 'function' ? source.getPublicKey() : null;
    if (publicKey) response.publicKey = toBase64url(publicKey);
    if (typeof source.getPublicKeyAlgorithm === 'function') response.publicKeyAlgorithm = source.getPublicKeyAlgorithm();
  } else {
    response.authenticatorData = toBase64url(source.authenticatorData);
    response.signature = toBase64url(source.signature);
    if (source.userHandle) response.userHandle = toBase64url(source.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    // Only credProps is asked for (plain JSON); binary extension outputs would need converting too.
    clientExtensionResults:
      typeof credential.getClientExtensionResults === 'function' ? credential.getClientExtensionResults() : {},
    response,
  };
}

/** A failure of the browser's part of a ceremony (a DOMException) as an AuthError with a stable code (status 0). */
function ceremonyError(error, kind) {
  if (error instanceof AuthError) return error;
  const codes = {
    NotAllowedError: 'passkey_cancelled', // dismissed, timed out, or no passkey of this site on the device
    AbortError: 'passkey_aborted', // another ceremony started, or the caller's signal
    InvalidStateError: kind === 'create' ? 'passkey_exists' : 'passkey_failed', // excludeCredentials matched
    SecurityError: 'passkey_wrong_origin', // the page is not on the relying party id (e.g. 127.0.0.1 for localhost)
    NotSupportedError: 'passkeys_unsupported',
  };
  const code = Object.hasOwn(codes, error?.name) ? codes[error.name] : 'passkey_failed';
  return new AuthError(error?.message || String(error), { code, cause: error });
}

function browserStorage() {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // access denied (storage disabled, some private modes)
  }
}

function readJSON(storage, key) {
  if (!storage) return null;
  try {
    return JSON.parse(storage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function writeJSON(storage, key, value) {
  if (!storage) return;
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // quota or access: coordination degrades to this tab only
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (e.g. a proxy's error page)
  }
  const header = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  const retryAfter = Number.isInteger(body?.retryAfter) ? body.retryAfter : Number.isFinite(header) ? header : null;
  return new AuthError(typeof body?.error === 'string' ? body.error : `HTTP ${response.status}`, {
    status: response.status,
    code: typeof body?.code === 'string' ? body.code : `http_${response.status}`,
    retryAfter,
    fields: body && typeof body.fields === 'object' ? body.fields : null,
  });
}

/**
 * A lease in localStorage, for browsers without Web Locks: best effort (localStorage has no compare-and-set; a
 * writer re-reads after a short pause to see whether another tab overwrote its claim). The service's refresh
 * grace window covers what slips through.
 */
async function withStorageLease(storage, key, fn) {
  const me = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const giveUpAt = Date.now() + 20000;
  let owned = false;
  while (storage && Date.now() < giveUpAt) {
    const lease = readJSON(storage, key);
    if (!lease || typeof lease.until !== 'number' || lease.until < Date.now()) {
      writeJSON(storage, key, { owner: me, until: Date.now() + 15000 });
      await sleep(30);
      if (readJSON(storage, key)?.owner === me) {
        owned = true;
        break;
      }
    }
    await sleep(20 + Math.random() * 40);
  }
  try {
    return await fn();
  } finally {
    if (owned && readJSON(storage, key)?.owner === me) {
      try {
        storage.removeItem(key);
      } catch {
        // ignore
      }
    }
  }
}

class AuthClient {
  #api;
  #fetch;
  #ttl;
  #refreshAt;
  #autoRefresh;
  #lockMode;
  #ns;
  #storage;
  #channel = null;
  #listeners = new Set();
  #state = Object.freeze({ status: 'unknown', user: null, renewedAt: null, mfaEnrolmentRequired: false });
  #inflight = null;
  #timer = null;
  #due = null;
  #started = false;
  #localRenewedAt = 0; // the latest renewal this tab knows of (its own or another tab's)
  #guessedIssue = 0; // the page load, when it came through redirects (a form login or the gate's renewal)
  #sentAt = new WeakMap(); // response -> when its request was sent (the retry's, after a refresh)
  #ceremony = null; // the passkey ceremony under way: {controller, settled}
  #onStorage = (event) => this.#storageEvent(event);
  #onVisible = () => this.#wake();

  /** Counters, for diagnostics and tests: refreshes sent by this client, refreshes it skipped. */
  stats = { refreshes: 0, skipped: 0 };

  constructor(options = {}) {
    this.#api = (options.apiBase ?? DEFAULT_API_BASE).replace(/\/+$/, '');
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.#fetch = (...args) => fetchImpl.apply(globalThis, args);
    this.#ttl = Number(options.accessTtl) > 0 ? Number(options.accessTtl) : 900;
    const at = Number(options.refreshAt);
    this.#refreshAt = at > 0 && at < 1 ? at : 0.8;
    this.#autoRefresh = options.autoRefresh !== false;
    this.#ns = options.namespace || 'jwt-authd';
    this.#storage = browserStorage();
    const lock = options.lock ?? 'auto';
    const hasLocks = typeof navigator !== 'undefined' && navigator.locks && typeof navigator.locks.request === 'function';
    if (!['auto', 'locks', 'storage', 'none'].includes(lock)) throw new TypeError(`unknown lock mode: ${lock}`);
    if (lock === 'auto') this.#lockMode = hasLocks ? 'locks' : this.#storage ? 'storage' : 'none';
    else if (lock === 'locks' && !hasLocks) throw new Error('Web Locks are not available here');
    else this.#lockMode = lock;
    // Methods work detached too (`const { login } = auth`, `useSyncExternalStore(auth.subscribe, auth.getState)`).
    for (const name of ['getState', 'subscribe', 'start', 'stop', 'login', 'register', 'logout', 'logoutAll', 'me',
      'sessions', 'revokeSession', 'changePassword', 'fetchWithAuth', 'refresh', 'verifyMfa', 'reauthenticate', 'mfa',
      'beginTotp', 'confirmTotp', 'removeMfaFactor', 'newRecoveryCodes', 'passkeysSupported', 'passkeyAutofillAvailable',
      'registerPasskey', 'loginWithPasskey', 'startPasskeyAutofill', 'verifyMfaWithPasskey', 'reauthenticateWithPasskey',
      'listPasskeys', 'renamePasskey', 'removePasskey']) {
      this[name] = this[name].bind(this);
    }
    this.#localRenewedAt = this.#shared().renewedAt || 0;
    if (this.#localRenewedAt) this.#state = Object.freeze({ ...this.#state, renewedAt: this.#localRenewedAt });
    try {
      const nav = performance.getEntriesByType('navigation')[0];
      if (nav && nav.redirectCount > 0) this.#guessedIssue = Math.round(performance.timeOrigin);
    } catch {
      // no Navigation Timing (not a browser page)
    }
  }

  // --- state ------------------------------------------------------------------------------------------------

  /**
   * `{status: 'unknown' | 'signed-in' | 'signed-out', user, renewedAt, mfaEnrolmentRequired}`; a new object on
   * every change.
   */
  getState() {
    return this.#state;
  }

  get user() {
    return this.#state.user;
  }

  /** How the tabs are coordinated: 'locks' (Web Locks), 'storage' (localStorage lease) or 'none'. */
  get lockMode() {
    return this.#lockMode;
  }

  /** `listener(state)` after every change; returns the unsubscribe function. */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(patch) {
    const next = { ...this.#state, ...patch };
    if (next.status === this.#state.status && next.user === this.#state.user && next.renewedAt === this.#state.renewedAt
      && next.mfaEnrolmentRequired === this.#state.mfaEnrolmentRequired) {
      return;
    }
    this.#state = Object.freeze(next);
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#state);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  // --- lifecycle ----------------------------------------------------------------------------------------------

  /**
   * Starts listening to the other tabs and the automatic refresh, and asks the service who is signed in
   * (GET /api/auth/me, refreshing once on 401). Resolves to the user or null.
   */
  async start() {
    if (!this.#started) {
      this.#started = true;
      if (typeof BroadcastChannel === 'function') {
        this.#channel = new BroadcastChannel(this.#ns);
        this.#channel.onmessage = (event) => this.#message(event.data);
      }
      if (typeof window !== 'undefined') window.addEventListener('storage', this.#onStorage);
      if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this.#onVisible);
    }
    const user = await this.me();
    this.#schedule();
    return user;
  }

  /** Stops the automatic refresh and the cross-tab listeners (the client stays usable). */
  stop() {
    this.#started = false;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = null;
    if (this.#channel) {
      this.#channel.close();
      this.#channel = null;
    }
    if (typeof window !== 'undefined') window.removeEventListener('storage', this.#onStorage);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this.#onVisible);
  }

  // --- account ----------------------------------------------------------------------------------------------

  /**
   * POST /api/auth/login. Resolves to the user, or, for a user with a second factor, to `{mfaRequired: true,
   * factors}` (see isMfaChallenge): then nobody is signed in until verifyMfa(). Rejects with an AuthError
   * (`invalid_credentials`, `throttled` with `retryAfter`, `mfa_unavailable`, ...).
   */
  async login(email, password) {
    return this.#signIn('/login', { email, password });
  }

  /** POST /api/auth/register. Resolves to the user; rejects with an AuthError (`email_taken`, `weak_password` with `fields`, ...). */
  async register({ email, password, name } = {}) {
    const body = { email, password };
    if (name != null && name !== '') body.name = name;
    return this.#signIn('/register', body);
  }

  /**
   * POST /api/auth/mfa/verify: the second step of a sign-in that answered `mfaRequired`, with a code of the
   * authenticator app (`verifyMfa('123456')` or `verifyMfa({code})`) or a recovery code (`verifyMfa({recoveryCode})`).
   * Resolves to the user (signed in, every tab learns it); rejects with an AuthError: `invalid_code` (a wrong or
   * used code, or a pending sign-in that expired after 5 minutes or 5 wrong codes: then log in again),
   * `throttled` with `retryAfter`.
   */
  async verifyMfa(proof) {
    return this.#signIn('/mfa/verify', secondFactor(proof));
  }

  async #signIn(route, body) {
    return this.#withLock(async () => {
      const sentAt = Date.now();
      let response = await this.#post(route, body);
      // 503 service_busy: password hashing is saturated (a burst or a flood of sign-ins); nothing was checked or
      // counted. Try again when its Retry-After (1 s) says, at most twice (a database outage, Retry-After 5, is not
      // waited out here).
      for (let retries = 0; response.status === 503 && retries < 2; retries++) {
        const wait = Number.parseInt(response.headers.get('Retry-After') || '', 10);
        if (!Number.isInteger(wait) || wait < 0 || wait > 2) break;
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        response = await this.#post(route, body);
      }
      if (!response.ok) throw await errorFrom(response);
      const data = await response.json();
      if (data?.mfaRequired === true) {
        // No session: the service cleared this browser's session cookies (every tab's) and keeps the pending
        // sign-in in its mfa_pending cookie, for verifyMfa().
        this.#signedOut(sentAt, true);
        return Object.freeze({ mfaRequired: true, factors: Array.isArray(data.factors) ? [...data.factors] : [] });
      }
      this.#learnTtl(data);
      this.#renewed(Date.now(), 'signed-in');
      this.#set({ status: 'signed-in', user: data.user ?? null, mfaEnrolmentRequired: data.mfaEnrolmentRequired === true });
      this.#schedule();
      return data.user ?? null;
    });
  }

  /**
   * POST /api/auth/reauthenticate with `{password}`, `{code}` or `{recoveryCode}`: a new authentication of this
   * session, for the routes that need a recent one (403 `reauthentication_required`) and, with a code, for pages
   * that need a second factor (the session becomes AAL2). Rejects with an AuthError (`invalid_credentials`,
   * `invalid_code`, `throttled`...; the session stays signed in).
   */
  async reauthenticate(proof = {}) {
    const response = await this.#session('POST', '/reauthenticate', reauthentication(proof), { renews: true });
    if (!response.ok) throw await this.#failure(response);
    this.#renewed(Date.now(), 'renewed');
  }

  /** POST /api/auth/logout: revokes this session and clears the cookies; every tab learns it. */
  async logout() {
    await this.#withLock(async () => {
      const sentAt = Date.now();
      const response = await this.#post('/logout');
      if (!response.ok) throw await errorFrom(response);
      this.#signedOut(sentAt, true);
    });
  }

  /** POST /api/auth/logout-all: revokes every session of the user. Resolves to the number revoked. */
  async logoutAll() {
    const response = await this.fetchWithAuth(`${this.#api}/logout-all`, { method: 'POST', headers: { Accept: 'application/json' } });
    if (!response.ok) throw await this.#failure(response);
    const data = await response.json();
    this.#signedOut(Date.now(), true);
    return data.revoked ?? 0;
  }

  /** GET /api/auth/me (refreshing once on 401). Resolves to the user, or null when nobody is signed in. */
  async me() {
    const response = await this.fetchWithAuth(`${this.#api}/me`, { headers: { Accept: 'application/json' } });
    if (response.ok) {
      const { user } = await response.json();
      this.#set({ status: 'signed-in', user });
      return user;
    }
    if (response.status === 401 || response.status === 404) {
      this.#signedOut(this.#sentAt.get(response) ?? Date.now(), this.#state.status === 'signed-in');
      return null;
    }
    throw await errorFrom(response);
  }

  /** GET /api/auth/sessions: the user's active sessions (`current` marks this one). */
  async sessions() {
    const response = await this.fetchWithAuth(`${this.#api}/sessions`, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw await this.#failure(response);
    return (await response.json()).sessions;
  }

  /** DELETE /api/auth/sessions/{id}: signs out one of the user's sessions (another device). For this one, use logout(). */
  async revokeSession(id) {
    const response = await this.fetchWithAuth(`${this.#api}/sessions/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) throw await this.#failure(response);
  }

  /** POST /api/auth/password: other sessions are revoked; this one stays signed in. */
  async changePassword(currentPassword, newPassword) {
    const response = await this.#session('POST', '/password', { currentPassword, newPassword });
    if (!response.ok) throw await this.#failure(response);
  }

  // --- second factors ---------------------------------------------------------------------------------------------

  /**
   * GET /api/auth/mfa: `{available, factors: [{id, kind, name, createdAt, lastUsedAt}], recoveryCodesLeft,
   * assuranceLevel}` (`assuranceLevel` 2: this session signed in with a second factor).
   */
  async mfa() {
    const response = await this.#session('GET', '/mfa');
    if (!response.ok) throw await this.#failure(response);
    return response.json();
  }

  /**
   * POST /api/auth/mfa/totp: starts adding an authenticator app: `{id, otpauthUri, secret, qrSvg}` (show the QR
   * code or the secret, then confirmTotp() with a code of the app). Needs a recent sign-in (else
   * `reauthentication_required`); `mfa_unavailable` where the site has no second factors.
   */
  async beginTotp(name) {
    const body = name == null || name === '' ? {} : { name };
    const response = await this.#session('POST', '/mfa/totp', body);
    if (!response.ok) throw await this.#failure(response);
    return response.json();
  }

  /**
   * POST /api/auth/mfa/totp/confirm: activates the app with one of its codes. Resolves to the ten recovery codes
   * (shown once: the service keeps only their hashes). The code also signs this session in with a second factor.
   */
  async confirmTotp(code) {
    const response = await this.#session('POST', '/mfa/totp/confirm', { code: String(code ?? '') }, { renews: true });
    if (!response.ok) throw await this.#failure(response);
    const { recoveryCodes } = await response.json();
    this.#renewed(Date.now(), 'renewed');
    this.#set({ mfaEnrolmentRequired: false });
    return recoveryCodes;
  }

  /** DELETE /api/auth/mfa/{id}: removes a factor (the recovery codes go with the last one). Needs a recent sign-in. */
  async removeMfaFactor(id) {
    const response = await this.#session('DELETE', `/mfa/${encodeURIComponent(id)}`);
    if (!response.ok) throw await this.#failure(response);
  }

  /** POST /api/auth/mfa/recovery-codes: ten new recovery codes (the old ones stop working). Needs a recent sign-in. */
  async newRecoveryCodes() {
    const response = await this.#session('POST', '/mfa/recovery-codes');
    if (!response.ok) throw await this.#failure(response);
    return (await response.json()).recoveryCodes;
  }

  // --- passkeys (#18) --------------------------------------------------------------------------------------------

  /** Whether this browser and page can use passkeys (WebAuthn in a secure context: HTTPS, or http://localhost). */
  passkeysSupported() {
    return webAuthnAvailable();
  }

  /** Whether the browser offers passkeys in the autofill of a field marked `autocomplete="username webauthn"`. */
  async passkeyAutofillAvailable() {
    if (!webAuthnAvailable() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') return false;
    try {
      return (await PublicKeyCredential.isConditionalMediationAvailable()) === true;
    } catch {
      return false;
    }
  }

  /**
   * Adds a passkey to the signed-in account: POST /api/auth/passkeys/register/options, the browser's
   * navigator.credentials.create(), POST /api/auth/passkeys/register. Needs a recent sign-in (else
   * `reauthentication_required`, or `mfa_required` for an account with a factor this session did not use: then
   * reauthenticate() and try again). Resolves to `{passkey, recoveryCodes}`: the codes (shown once) when it is the
   * account's first factor, else null. The registration counts as a sign-in with the passkey (a new access cookie).
   */
  async registerPasskey(name, { signal } = {}) {
    const credential = await this.#passkeyCeremony('create', '/passkeys/register/options', {}, { signal, session: true });
    const body = { credential };
    if (name != null && String(name).trim() !== '') body.name = String(name).trim();
    const response = await this.#session('POST', '/passkeys/register', body, { renews: true });
    if (!response.ok) throw await this.#failure(response);
    const data = await response.json();
    this.#renewed(Date.now(), 'renewed');
    this.#set({ mfaEnrolmentRequired: false });
    return { passkey: data.passkey, recoveryCodes: Array.isArray(data.recoveryCodes) ? data.recoveryCodes : null };
  }

  /**
   * Signs in with a passkey alone: POST /api/auth/passkeys/login/options (the browser offers the passkeys of this
   * site it has: discoverable credentials; with `email` the service accepts only that account's), the browser's
   * navigator.credentials.get() with `mediation` ('optional' by default), POST /api/auth/passkeys/login. Resolves
   * to the user, like login(); rejects with an AuthError (`invalid_credentials`, `throttled` with `retryAfter`,
   * `passkeys_unavailable`, or a browser code: `passkey_cancelled`, `passkey_aborted`...).
   */
  async loginWithPasskey({ email, mediation, signal } = {}) {
    const body = email == null || email === '' ? {} : { email: String(email) };
    const credential = await this.#passkeyCeremony('get', '/passkeys/login/options', body, { mediation, signal });
    return this.#signIn('/passkeys/login', { credential });
  }

  /**
   * Passkeys in the autofill (conditional mediation): call it when the sign-in page loads, with the username
   * field marked `autocomplete="username webauthn"`. The request waits until the user picks a passkey there, then
   * signs in: resolves to the user. Resolves to null where the browser has no such autofill, and when the request
   * is aborted (by `signal`, or because another passkey ceremony started, e.g. loginWithPasskey() from a button).
   * Rejects like loginWithPasskey() when the chosen passkey does not sign in (then call it again to offer the
   * autofill again).
   */
  async startPasskeyAutofill({ signal } = {}) {
    if (!(await this.passkeyAutofillAvailable())) return null;
    let credential;
    try {
      credential = await this.#passkeyCeremony('get', '/passkeys/login/options', {}, { mediation: 'conditional', signal });
    } catch (error) {
      if (error instanceof AuthError && error.code === 'passkey_aborted') return null;
      throw error;
    }
    return this.#signIn('/passkeys/login', { credential });
  }

  /**
   * The second step of a sign-in that answered `mfaRequired` with 'passkey' among its factors:
   * POST /api/auth/mfa/passkey/options (the pending sign-in's cookie), navigator.credentials.get(),
   * POST /api/auth/mfa/verify `{passkey}`. Resolves to the user, like verifyMfa(); rejects with `invalid_code` (a
   * passkey that does not verify, or the pending sign-in is over), `throttled`, or a browser code.
   */
  async verifyMfaWithPasskey({ signal } = {}) {
    const credential = await this.#passkeyCeremony('get', '/mfa/passkey/options', undefined, { signal });
    return this.#signIn('/mfa/verify', { passkey: credential });
  }

  /**
   * reauthenticate() with a passkey: POST /api/auth/passkeys/reauthenticate/options, navigator.credentials.get(),
   * POST /api/auth/reauthenticate `{passkey}`. A new authentication of this session (AAL2 with a passkey that
   * verified its user, or one used after the password). Rejects with `invalid_code`, `not_found` (no passkey),
   * `throttled`, or a browser code.
   */
  async reauthenticateWithPasskey({ signal } = {}) {
    const route = '/passkeys/reauthenticate/options';
    const credential = await this.#passkeyCeremony('get', route, undefined, { signal, session: true });
    const response = await this.#session('POST', '/reauthenticate', { passkey: credential }, { renews: true });
    if (!response.ok) throw await this.#failure(response);
    this.#renewed(Date.now(), 'renewed');
  }

  /** GET /api/auth/passkeys: `{available, passkeys: [{id, name, createdAt, lastUsedAt, synced, backedUp, ...}]}`. */
  async listPasskeys() {
    const response = await this.#session('GET', '/passkeys');
    if (!response.ok) throw await this.#failure(response);
    return response.json();
  }

  /** PATCH /api/auth/passkeys/{id}: a new name (empty or null: none). */
  async renamePasskey(id, name) {
    const body = { name: name == null ? null : String(name) };
    const response = await this.#session('PATCH', `/passkeys/${encodeURIComponent(id)}`, body);
    if (!response.ok) throw await this.#failure(response);
  }

  /** DELETE /api/auth/passkeys/{id} (the recovery codes go with the last factor). Needs a recent sign-in. */
  async removePasskey(id) {
    const response = await this.#session('DELETE', `/passkeys/${encodeURIComponent(id)}`);
    if (!response.ok) throw await this.#failure(response);
  }

  /**
   * One ceremony: its options from `route` (with the session when `session`), then the browser's create() or get().
   * Resolves to the credential in JSON. Starting it aborts the ceremony under way (browsers take one request at a
   * time), and waits until that one has settled.
   */
  async #passkeyCeremony(kind, route, body, { mediation, signal, session = false } = {}) {
    if (!webAuthnAvailable()) throw new AuthError('This browser cannot use passkeys here', { code: 'passkeys_unsupported' });
    const previous = this.#ceremony;
    const controller = new AbortController();
    let settle;
    const ceremony = { controller, settled: new Promise((resolve) => { settle = resolve; }) };
    this.#ceremony = ceremony;
    const follow = () => controller.abort(signal.reason);
    if (signal?.aborted) follow();
    else signal?.addEventListener('abort', follow, { once: true });
    try {
      if (previous) {
        previous.controller.abort(new DOMException('Another passkey ceremony started', 'AbortError'));
        await previous.settled;
      }
      const response = session ? await this.#session('POST', route, body) : await this.#post(route, body);
      if (!response.ok) throw session ? await this.#failure(response) : await errorFrom(response);
      const options = await response.json();
      controller.signal.throwIfAborted();
      const request = { publicKey: publicKeyOptions(kind, options), signal: controller.signal };
      if (mediation) request.mediation = mediation;
      const credential = await (kind === 'create' ? navigator.credentials.create(request) : navigator.credentials.get(request));
      if (!credential) throw new DOMException('No credential', 'NotAllowedError');
      return credentialJSON(credential);
    } catch (error) {
      const aborted = controller.signal.aborted && !(error instanceof AuthError);
      throw ceremonyError(aborted ? new DOMException('Aborted', 'AbortError') : error, kind);
    } finally {
      signal?.removeEventListener('abort', follow);
      if (this.#ceremony === ceremony) this.#ceremony = null;
      settle();
    }
  }

  async #failure(response) {
    const error = await errorFrom(response);
    if (response.status === 401 && !WRONG_PROOF.has(error.code)) this.#signedOut(this.#sentAt.get(response) ?? Date.now(), true);
    return error;
  }

  // --- requests -----------------------------------------------------------------------------------------------

  /**
   * fetch() with the cookies (credentials: 'same-origin'); on a 401, refreshes the tokens once (shared with
   * every tab) and retries once. The body must be replayable (string, FormData, Blob, URLSearchParams...; not
   * a stream). Meant for this site's URLs: the auth cookies are never sent anywhere else.
   */
  async fetchWithAuth(input, init = {}) {
    const replay = typeof Request !== 'undefined' && input instanceof Request ? input.clone() : null;
    const options = { credentials: 'same-origin', ...init };
    const sentAt = Date.now();
    const response = await this.#fetch(input, options);
    this.#sentAt.set(response, sentAt);
    if (response.status !== 401) return response;
    if (typeof ReadableStream !== 'undefined' && init.body instanceof ReadableStream) return response;
    if (!(await this.refresh({ since: sentAt }))) return response;
    const retriedAt = Date.now();
    const retry = await this.#fetch(replay ?? input, options);
    this.#sentAt.set(retry, retriedAt);
    return retry;
  }

  /**
   * Rotates the tokens (POST /api/auth/refresh, cookie mode) unless a renewal (in any tab) completed after
   * `since` (default: now, so a call that had to wait for another tab's refresh skips its own); `force: true`
   * always sends the request. Single flight in this tab and across tabs.
   * Resolves to true when the cookies are fresh, false when the session is gone (state becomes signed-out);
   * rejects on a network or server error (the session is kept).
   */
  refresh({ since, force = false } = {}) {
    const need = Number.isFinite(since) ? since : Date.now();
    if (this.#inflight) return this.#inflight;
    const run = this.#withLock(async () => {
      const renewedAt = Math.max(this.#shared().renewedAt || 0, this.#localRenewedAt);
      if (!force && renewedAt > need) {
        this.stats.skipped += 1;
        this.#adopt(renewedAt);
        return true;
      }
      const sentAt = Date.now();
      const response = await this.#post('/refresh');
      if (response.ok) {
        this.stats.refreshes += 1;
        try {
          this.#learnTtl(await response.json());
        } catch {
          // the body does not matter
        }
        this.#renewed(Date.now(), 'renewed');
        if (this.#state.status !== 'signed-in') this.#set({ status: 'signed-in' });
        return true;
      }
      if (response.status === 401) {
        this.#signedOut(sentAt, true);
        return false;
      }
      throw await errorFrom(response);
    });
    this.#inflight = run.finally(() => {
      this.#inflight = null;
      this.#schedule();
    });
    return this.#inflight;
  }

  #post(route, body) {
    return this.#request('POST', route, body);
  }

  #request(method, route, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return this.#fetch(`${this.#api}${route}`, init);
  }

  /**
   * A route of the service that needs the session: like fetchWithAuth (on a 401, one refresh and one retry),
   * except that a 401 about what was presented (a wrong password or code) is returned as it is. `renews`: the
   * answer sets a new access cookie, so the request runs under the lock, never beside a refresh whose answer
   * could overwrite it with an older authentication.
   */
  async #session(method, route, body, { renews = false } = {}) {
    const send = async () => {
      const sentAt = Date.now();
      const response = await this.#request(method, route, body);
      this.#sentAt.set(response, sentAt);
      return response;
    };
    const attempt = () => (renews ? this.#withLock(send) : send());
    const response = await attempt();
    if (response.status !== 401 || (await wrongProof(response))) return response;
    if (!(await this.refresh({ since: this.#sentAt.get(response) }))) return response;
    return attempt();
  }

  #learnTtl(data) {
    // Not in the cookie-mode answers today; used if the service ever says it.
    if (data && Number.isInteger(data.expiresIn) && data.expiresIn > 0) this.#ttl = data.expiresIn;
  }

  // --- cross-tab coordination -----------------------------------------------------------------------------------

  #withLock(fn) {
    if (this.#lockMode === 'locks') return navigator.locks.request(`${this.#ns}:refresh`, { mode: 'exclusive' }, fn);
    if (this.#lockMode === 'storage') return withStorageLease(this.#storage, `${this.#ns}:lease`, fn);
    return Promise.resolve().then(fn);
  }

  #shared() {
    return readJSON(this.#storage, `${this.#ns}:state`) || {};
  }

  /** New cookies were set at `at` (login, register or refresh in this tab). */
  #renewed(at, type) {
    this.#localRenewedAt = at;
    writeJSON(this.#storage, `${this.#ns}:state`, { renewedAt: at });
    this.#broadcast({ type, at });
    this.#set({ renewedAt: at });
  }

  /** Another tab renewed at `at`. */
  #adopt(at) {
    if (at > this.#localRenewedAt) this.#localRenewedAt = at;
    this.#set({ renewedAt: this.#localRenewedAt });
  }

  /**
   * The session is gone, as seen by a request sent at `sentAt`. A renewal after that instant (a login in another
   * tab meanwhile) wins over it.
   */
  #signedOut(sentAt, tell) {
    if (this.#localRenewedAt > sentAt) return;
    const shared = this.#shared();
    if ((shared.renewedAt || 0) > sentAt) return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = null;
    if (tell) {
      writeJSON(this.#storage, `${this.#ns}:state`, { renewedAt: 0, signedOutAt: sentAt });
      this.#broadcast({ type: 'signed-out', at: sentAt });
    }
    this.#localRenewedAt = 0;
    this.#set({ status: 'signed-out', user: null, renewedAt: null, mfaEnrolmentRequired: false });
  }

  #broadcast(message) {
    if (this.#channel) {
      this.#channel.postMessage(message);
    } else if (typeof BroadcastChannel === 'function' && this.#started === false) {
      // not started: nobody listens here, but other tabs may
      const channel = new BroadcastChannel(this.#ns);
      channel.postMessage(message);
      channel.close();
    } else {
      writeJSON(this.#storage, `${this.#ns}:event`, { ...message, nonce: Math.random() });
    }
  }

  #storageEvent(event) {
    if (this.#channel || event.key !== `${this.#ns}:event` || !event.newValue) return;
    try {
      this.#message(JSON.parse(event.newValue));
    } catch {
      // not ours
    }
  }

  #message(message) {
    if (!message || typeof message.type !== 'string' || !Number.isFinite(message.at)) return;
    if (message.type === 'signed-out') {
      this.#signedOut(message.at, false);
    } else if (message.type === 'renewed' || message.type === 'signed-in') {
      this.#adopt(message.at);
      if (this.#state.status !== 'signed-in' || message.type === 'signed-in') {
        this.me().catch(() => {});
      }
      this.#schedule();
    }
  }

  // --- automatic refresh --------------------------------------------------------------------------------------

  #schedule() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = null;
    if (!this.#started || !this.#autoRefresh || this.#state.status !== 'signed-in') return;
    const base = Math.max(this.#localRenewedAt, this.#shared().renewedAt || 0, this.#guessedIssue) || Date.now();
    const due = base + this.#ttl * 1000 * this.#refreshAt;
    this.#due = due;
    this.#timer = setTimeout(() => this.#tick(base), Math.max(0, due - Date.now()));
  }

  #tick(base) {
    this.#timer = null;
    // `since: base`: skipped if any tab renewed after the renewal this schedule was computed from.
    this.refresh({ since: base }).catch(() => {
      // network or server trouble: try again soon, the session is kept
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#tick(base), Math.min(10000, this.#ttl * 100));
    });
  }

  #wake() {
    // Background tabs' timers run late; catch up when the tab is shown again.
    if (typeof document !== 'undefined' && document.visibilityState === 'visible' && this.#due !== null && Date.now() >= this.#due) {
      clearTimeout(this.#timer);
      this.#tick(this.#due - this.#ttl * 1000 * this.#refreshAt);
    }
  }
}
