// Types for auth.js, the jwt-authd browser client. TypeScript picks this file up for
// `import { createAuthClient } from './auth.js'` when it sits next to auth.js.

/** The user as returned by login and register (`User` in docs/openapi.yaml). */
export interface User {
  id: string;
  email: string;
  name: string | null;
  role: string;
  /** Present in the answer of GET /api/auth/me. */
  emailVerified?: boolean;
}

/** One of the user's sessions (GET /api/auth/sessions). */
export interface Session {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  /** The absolute end of the session. */
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
  /** The session of this browser. */
  current: boolean;
}

/**
 * What login() resolves to for a user with a second factor: nobody is signed in yet; the service keeps the pending
 * sign-in (5 minutes, 5 codes) in an HttpOnly cookie until verifyMfa() gives a code.
 */
export interface MfaChallenge {
  readonly mfaRequired: true;
  /**
   * What this sign-in's second step accepts: 'totp' (verifyMfa() with a code of the app), 'recovery_code'
   * (verifyMfa({recoveryCode})), 'passkey' (verifyMfaWithPasskey()).
   */
  readonly factors: ReadonlyArray<MfaFactorKind>;
}

export type MfaFactorKind = 'totp' | 'recovery_code' | 'passkey' | (string & {});

/** One second factor of the user (GET /api/auth/mfa). */
export interface MfaFactor {
  id: string;
  /** 'passkey' for a passkey (listPasskeys() tells more about those). */
  kind: 'totp' | 'passkey' | (string & {});
  /** The name given when it was added ("phone"), if any. */
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

/** GET /api/auth/mfa. */
export interface MfaSummary {
  /** False when the site has no second-factor key (the routes that need one answer `mfa_unavailable`). */
  available: boolean;
  factors: MfaFactor[];
  recoveryCodesLeft: number;
  /** 2 when this session signed in (or reauthenticated) with a second factor, else 1. */
  assuranceLevel: number;
}

/** POST /api/auth/mfa/totp: an authenticator app to add, pending until confirmTotp(). */
export interface TotpEnrolment {
  id: string;
  /** otpauth://totp/... (what the QR code holds). */
  otpauthUri: string;
  /** The secret in base32, for typing into the app by hand. */
  secret: string;
  /**
   * The QR code as an inline `<svg>` element's markup (only `<svg>`, `<rect>` and `<path>`; no script, no external
   * reference), made by the service. Insert it as SVG (e.g. DOMParser + importNode), never into an attribute.
   */
  qrSvg: string;
}

/** One of the user's passkeys (GET /api/auth/passkeys). */
export interface Passkey {
  id: string;
  /** The name given when it was added or renamed, if any. */
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  /** Backup eligible: a synced passkey (a password manager's or a platform's account), `amr` 'swk'; else 'hwk'. */
  synced: boolean;
  /** Backed up as of its last use. */
  backedUp: boolean;
  /** Whether the authenticator verified its user (PIN, biometric) when it was added. */
  userVerified: boolean;
  /** Transport hints the browser reported ('internal', 'hybrid', 'usb', ...). */
  transports: string[];
  /** The authenticator model's AAGUID (all zeros when it did not say). */
  aaguid: string;
  /** COSE algorithm: -7 (ES256), -8 (EdDSA), -257 (RS256). */
  algorithm: number;
}

/** GET /api/auth/passkeys. */
export interface PasskeyList {
  /** False when the site has no relying party configured (the ceremonies answer `passkeys_unavailable`). */
  available: boolean;
  /** Oldest first. */
  passkeys: Passkey[];
}

/** What registerPasskey() resolves to. */
export interface RegisteredPasskey {
  passkey: Passkey;
  /** Ten recovery codes, shown this once, when the passkey is the account's first factor; else null. */
  recoveryCodes: string[] | null;
}

/** Every passkey ceremony can be aborted; starting another one aborts it too (one request at a time). */
export interface PasskeyCeremonyOptions {
  signal?: AbortSignal;
}

export interface PasskeySignInOptions extends PasskeyCeremonyOptions {
  /**
   * The service then accepts only this account's passkeys (the options list no credential ids either way: the
   * browser offers the discoverable passkeys of this site it has).
   */
  email?: string | null;
  /** navigator.credentials.get()'s mediation ('optional' by default; startPasskeyAutofill() uses 'conditional'). */
  mediation?: CredentialMediationRequirement;
}

/** A code of the authenticator app (`'123456'` is short for `{code: '123456'}`), or a recovery code. */
export type SecondFactorProof = string | { code: string; recoveryCode?: undefined } | { recoveryCode: string; code?: undefined };

/** What reauthenticate() takes: the password, or a second factor (which makes the session AAL2). */
export type Reauthentication = { password: string } | Exclude<SecondFactorProof, string> | string;

export type AuthStatus = 'unknown' | 'signed-in' | 'signed-out';

export interface AuthState {
  /** 'unknown' until the first answer of the service (start(), me(), login()...). */
  readonly status: AuthStatus;
  readonly user: User | null;
  /** When the tokens were last renewed in this browser as far as this client knows (ms since the epoch). */
  readonly renewedAt: number | null;
  /**
   * True after a sign-in in this tab whose answer said that the user's role needs a second factor and the account
   * has none yet (`mfaEnrolmentRequired`): send the user to add one. False again after confirmTotp() or sign-out.
   */
  readonly mfaEnrolmentRequired: boolean;
}

/** Stable error codes of the service (docs/openapi.yaml, ErrorCode), or `http_<status>` for a non-JSON answer. */
export type AuthErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'weak_password'
  | 'reset_token_invalid'
  | 'email_token_invalid'
  | 'email_unverified'
  | 'invalid_code'
  | 'mfa_required'
  | 'mfa_unavailable'
  | 'passkey_invalid'
  | 'passkeys_unavailable'
  | 'mail_unavailable'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'invalid_credentials'
  | 'unauthorized'
  | 'token_expired'
  | 'token_reused'
  | 'session_revoked'
  | 'session_expired'
  | 'forbidden'
  | 'cross_site_request'
  | 'ambiguous_cookie'
  | 'reauthentication_required'
  | 'insufficient_scope'
  | 'invalid_content_length'
  | 'registration_disabled'
  | 'not_found'
  | 'user_not_found'
  | 'method_not_allowed'
  | 'email_taken'
  | 'throttled'
  | 'service_unavailable'
  | 'service_busy'
  | 'internal_error'
  // The browser's part of a passkey ceremony (status 0; `cause` holds the browser's DOMException):
  /** NotAllowedError: the user dismissed the browser's dialog, it timed out, or no passkey of this site was there. */
  | 'passkey_cancelled'
  /** AbortError: the caller's signal, or another passkey ceremony started. */
  | 'passkey_aborted'
  /** InvalidStateError of a registration: this authenticator holds one of the account's passkeys already. */
  | 'passkey_exists'
  /** SecurityError: the page is not on the relying party id (e.g. http://127.0.0.1 for rp id localhost). */
  | 'passkey_wrong_origin'
  /** No WebAuthn here (an old browser, or not a secure context), or NotSupportedError. */
  | 'passkeys_unsupported'
  /** Any other failure of the browser's ceremony. */
  | 'passkey_failed'
  | (string & {});

export class AuthError extends Error {
  constructor(
    message: string,
    details?: {
      status?: number;
      code?: string;
      retryAfter?: number | null;
      fields?: Record<string, string> | null;
      cause?: unknown;
    },
  );
  readonly name: 'AuthError';
  /** The HTTP status (0 if none). */
  readonly status: number;
  readonly code: AuthErrorCode;
  /** Seconds until an attempt may succeed (with `throttled`). */
  readonly retryAfter: number | null;
  /** Problems by request field (`email`, `password`, `name`...), with `invalid_request` and `weak_password`. */
  readonly fields: Record<string, string> | null;
}

export interface AuthClientOptions {
  /** Where the service's routes are. Default '/api/auth' (same origin: the cookies are same-origin). */
  apiBase?: string;
  /**
   * The access token's lifetime in seconds, as the service is configured (JWT_ACCESS_TTL). Default 900. The
   * cookie-mode answers do not say it and the HttpOnly cookie cannot be read, so the automatic refresh counts
   * from the last renewal it saw. A wrong value costs an early refresh or a 401-and-retry, never a sign-out.
   */
  accessTtl?: number;
  /** When to refresh, as a fraction of accessTtl after the last renewal. Default 0.8. */
  refreshAt?: number;
  /** Refresh automatically before the access token expires (after start()). Default true. */
  autoRefresh?: boolean;
  /**
   * How the tabs of one browser take turns at refreshing: 'locks' (Web Locks; secure contexts only), 'storage'
   * (a localStorage lease, best effort), 'none' (no coordination: the service's grace window must cover it),
   * or 'auto' (default: Web Locks when available, else the lease).
   */
  lock?: 'auto' | 'locks' | 'storage' | 'none';
  /** Name of the lock, the BroadcastChannel and the localStorage keys. Default 'jwt-authd'. */
  namespace?: string;
  /** The fetch to use. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface RefreshOptions {
  /**
   * Skip the request if a renewal (in any tab) completed after this instant (ms since the epoch). Default: the
   * time of the call, so a call that waited for another tab's refresh does not send its own.
   */
  since?: number;
  /** Send the request whatever the other tabs did. */
  force?: boolean;
}

export interface AuthClient {
  /** The current state; a new object after every change (suitable for React's useSyncExternalStore). */
  getState(): AuthState;
  readonly user: User | null;
  /** The coordination in use: 'locks', 'storage' or 'none'. */
  readonly lockMode: 'locks' | 'storage' | 'none';
  /** Refreshes sent and skipped by this client (diagnostics). */
  readonly stats: { refreshes: number; skipped: number };
  /** Called after every state change; returns the function that unsubscribes. */
  subscribe(listener: (state: AuthState) => void): () => void;

  /** Listen to the other tabs, start the automatic refresh, and ask who is signed in (GET /me). */
  start(): Promise<User | null>;
  /** Stop the automatic refresh and the cross-tab listeners. */
  stop(): void;

  /**
   * POST /api/auth/login: the user, or for a user with a second factor an MfaChallenge (test it with
   * isMfaChallenge; then verifyMfa()). Rejects with AuthError (`invalid_credentials`, `throttled` + retryAfter,
   * `mfa_unavailable`, ...).
   */
  login(email: string, password: string): Promise<User | MfaChallenge>;
  /** POST /api/auth/register. Rejects with AuthError (`email_taken`, `weak_password` + fields, ...). */
  register(details: { email: string; password: string; name?: string | null }): Promise<User>;
  /** POST /api/auth/logout: this session; every tab becomes signed-out. */
  logout(): Promise<void>;
  /** POST /api/auth/logout-all: every session of the user; resolves to how many were revoked. */
  logoutAll(): Promise<number>;
  /** GET /api/auth/me (refreshing once on 401): the user, or null when nobody is signed in. */
  me(): Promise<User | null>;
  /** GET /api/auth/sessions. */
  sessions(): Promise<Session[]>;
  /** DELETE /api/auth/sessions/{id}: sign out another device (for this one, use logout()). */
  revokeSession(id: string): Promise<void>;
  /** POST /api/auth/password: the other sessions are revoked. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;

  /**
   * POST /api/auth/mfa/verify: the second step of a sign-in (after login() resolved to an MfaChallenge). Resolves
   * to the user, signed in (every tab learns it). Rejects with AuthError: `invalid_code` (wrong or used code, or
   * the pending sign-in is over: 5 minutes or 5 wrong codes; then log in again), `throttled` + retryAfter.
   */
  verifyMfa(proof: SecondFactorProof): Promise<User>;
  /**
   * POST /api/auth/reauthenticate: a new authentication of this session, for the routes that answer 403
   * `reauthentication_required` (then try the route again) and, with a code, for pages and APIs that need a
   * second factor (`mfa_required`; the session becomes AAL2). Rejects with AuthError (`invalid_credentials`,
   * `invalid_code`, `throttled`; the session stays signed in).
   */
  reauthenticate(proof: Reauthentication): Promise<void>;
  /** GET /api/auth/mfa: the user's second factors and the session's assurance level. */
  mfa(): Promise<MfaSummary>;
  /**
   * POST /api/auth/mfa/totp: starts adding an authenticator app (replacing one not yet confirmed). Needs a recent
   * sign-in (`reauthentication_required`); `mfa_unavailable` without the site's key.
   */
  beginTotp(name?: string | null): Promise<TotpEnrolment>;
  /**
   * POST /api/auth/mfa/totp/confirm with a code of the app: the factor is active, the session AAL2. Resolves to the
   * ten recovery codes, shown this once. Rejects with `invalid_code`.
   */
  confirmTotp(code: string): Promise<string[]>;
  /** DELETE /api/auth/mfa/{id} (the recovery codes go with the last factor). Needs a recent sign-in. */
  removeMfaFactor(id: string): Promise<void>;
  /** POST /api/auth/mfa/recovery-codes: ten new codes, the old ones die. Needs a recent sign-in. */
  newRecoveryCodes(): Promise<string[]>;

  /** Whether this browser and page can use passkeys (WebAuthn in a secure context: HTTPS or http://localhost). */
  passkeysSupported(): boolean;
  /** Whether the browser offers passkeys in the autofill (PublicKeyCredential.isConditionalMediationAvailable()). */
  passkeyAutofillAvailable(): Promise<boolean>;
  /**
   * Adds a passkey to the signed-in account (options, navigator.credentials.create(), registration). Needs a recent
   * sign-in (`reauthentication_required`; `mfa_required` for an account with a factor this session did not use):
   * reauthenticate and try again. Counts as a sign-in with the passkey (a new access cookie). Rejects with
   * `passkey_invalid` (the service refused the credential), `passkey_exists`, `passkey_cancelled`, ...
   */
  registerPasskey(name?: string | null, options?: PasskeyCeremonyOptions): Promise<RegisteredPasskey>;
  /**
   * Signs in with a passkey alone (options, navigator.credentials.get(), POST /api/auth/passkeys/login): the user,
   * like login(). Rejects with `invalid_credentials`, `throttled` + retryAfter, `passkeys_unavailable`,
   * `passkey_cancelled`, `passkey_aborted`, ...
   */
  loginWithPasskey(options?: PasskeySignInOptions): Promise<User>;
  /**
   * Passkeys in the autofill of a field marked `autocomplete="username webauthn"` (conditional mediation): waits
   * until the user picks one, then signs in (the user). Null where the browser has no such autofill, and when
   * aborted (`signal`, or another ceremony started, e.g. loginWithPasskey() from a button). Rejects like
   * loginWithPasskey() when the passkey does not sign in.
   */
  startPasskeyAutofill(options?: PasskeyCeremonyOptions): Promise<User | null>;
  /**
   * The second step of a sign-in whose MfaChallenge lists 'passkey' (options, navigator.credentials.get(),
   * POST /api/auth/mfa/verify `{passkey}`): the user. Rejects with `invalid_code` (a passkey that does not verify,
   * or the pending sign-in is over), `throttled`, or a browser code.
   */
  verifyMfaWithPasskey(options?: PasskeyCeremonyOptions): Promise<User>;
  /**
   * reauthenticate() with a passkey: a new authentication of this session (AAL2 with a user-verifying passkey or
   * after the password). Rejects with `invalid_code`, `not_found` (no passkey), `throttled`, or a browser code.
   */
  reauthenticateWithPasskey(options?: PasskeyCeremonyOptions): Promise<void>;
  /** GET /api/auth/passkeys. */
  listPasskeys(): Promise<PasskeyList>;
  /** PATCH /api/auth/passkeys/{id}: a new name (empty or null: none). Rejects with `not_found`. */
  renamePasskey(id: string, name: string | null): Promise<void>;
  /** DELETE /api/auth/passkeys/{id} (the recovery codes go with the last factor). Needs a recent sign-in. */
  removePasskey(id: string): Promise<void>;

  /** fetch() with the cookies; on 401, one refresh (single flight across tabs) and one retry. */
  fetchWithAuth(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * POST /api/auth/refresh (cookie mode), one at a time across tabs. True: the cookies are fresh. False: the
   * session is gone (state becomes signed-out). Rejects on network or server errors.
   */
  refresh(options?: RefreshOptions): Promise<boolean>;
}

export function createAuthClient(options?: AuthClientOptions): AuthClient;

/** True when login() resolved to a second-factor challenge rather than the user. */
export function isMfaChallenge(result: User | MfaChallenge | null | undefined): result is MfaChallenge;

/**
 * `candidate` if it is a path on this site (the service's callbackUrl rule: one leading "/", no "//", no
 * backslash, no encoded slash or backslash, no control characters or spaces), else `fallback` ('/dashboard').
 */
export function safeRedirectPath(candidate: string | null | undefined, fallback?: string): string;
