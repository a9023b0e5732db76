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

export type AuthStatus = 'unknown' | 'signed-in' | 'signed-out';

export interface AuthState {
  /** 'unknown' until the first answer of the service (start(), me(), login()...). */
  readonly status: AuthStatus;
  readonly user: User | null;
  /** When the tokens were last renewed in this browser as far as this client knows (ms since the epoch). */
  readonly renewedAt: number | null;
}

/** Stable error codes of the service (docs/openapi.yaml, ErrorCode), or `http_<status>` for a non-JSON answer. */
export type AuthErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'weak_password'
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
  | 'registration_disabled'
  | 'not_found'
  | 'user_not_found'
  | 'method_not_allowed'
  | 'email_taken'
  | 'throttled'
  | 'service_unavailable'
  | 'internal_error'
  | (string & {});

export class AuthError extends Error {
  constructor(
    message: string,
    details?: { status?: number; code?: string; retryAfter?: number | null; fields?: Record<string, string> | null },
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

  /** POST /api/auth/login. Rejects with AuthError (`invalid_credentials`, `throttled` + retryAfter, ...). */
  login(email: string, password: string): Promise<User>;
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

  /** fetch() with the cookies; on 401, one refresh (single flight across tabs) and one retry. */
  fetchWithAuth(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * POST /api/auth/refresh (cookie mode), one at a time across tabs. True: the cookies are fresh. False: the
   * session is gone (state becomes signed-out). Rejects on network or server errors.
   */
  refresh(options?: RefreshOptions): Promise<boolean>;
}

export function createAuthClient(options?: AuthClientOptions): AuthClient;

/**
 * `candidate` if it is a path on this site (the service's callbackUrl rule: one leading "/", no "//", no
 * backslash, no encoded slash or backslash, no control characters or spaces), else `fallback` ('/dashboard').
 */
export function safeRedirectPath(candidate: string | null | undefined, fallback?: string): string;
