// Shared by the demo pages: one client per page, the error messages, small helpers.
import { createAuthClient, safeRedirectPath } from '/assets/auth.js';

// The access token's lifetime as the service is configured (JWT_ACCESS_TTL; 900 s by default): from the page's
// <meta name="jwt-authd-access-ttl">, or, for a service running with a shorter lifetime (the browser tests do),
// from localStorage["jwt-authd-demo.accessTtl"].
function accessTtl() {
  let stored = null;
  try {
    stored = localStorage.getItem('jwt-authd-demo.accessTtl');
  } catch {
    // storage disabled
  }
  const meta = document.querySelector('meta[name="jwt-authd-access-ttl"]')?.content;
  const seconds = Number(stored || meta || 900);
  return seconds > 0 ? seconds : 900;
}

export const auth = createAuthClient({ accessTtl: accessTtl() });

// For the console (and the browser tests): window.demoAuth.refresh(), .stats, .getState().
window.demoAuth = auth;

const MESSAGES = {
  invalid_credentials: 'Wrong email or password.',
  throttled: 'Too many attempts.',
  invalid_request: 'Check the form: a valid email address and a password are needed.',
  weak_password: 'Choose another password: at least 8 characters.',
  email_taken: 'An account with this email address already exists.',
  registration_disabled: 'Registration is closed on this site.',
  cross_site_request: 'The request was refused because it did not come from this site.',
  service_unavailable: 'The sign-in service is unavailable. Please try again in a moment.',
  invalid_code: 'That code did not work. Enter the code your app shows now (each code works once).',
  reauthentication_required: 'Confirm it is you first: your password, a code from your app or a passkey.',
  mfa_required: 'This needs a sign-in with your second factor: a code from your app or a passkey.',
  mfa_unavailable: 'Second factors are not available on this site right now. Please try again later.',
  ambiguous_cookie: 'Your browser sent its sign-in cookie twice. Please sign in again.',
  // Passkeys (#18): the service's codes, then the client's for the browser's part of a ceremony.
  passkeys_unavailable: 'Passkeys are not set up on this site.',
  passkey_invalid: 'The passkey could not be added. Please try again.',
  passkey_cancelled: 'No passkey was used: the request was cancelled or timed out.',
  passkey_aborted: 'The passkey request was interrupted. Please try again.',
  passkey_exists: 'This device already holds a passkey for your account.',
  passkey_wrong_origin: 'Passkeys for this site work only at its own address (in development: http://localhost, not 127.0.0.1).',
  passkeys_unsupported: 'This browser cannot use passkeys here.',
  passkey_failed: 'The passkey did not work. Please try again.',
  not_found: 'It is not there any more: reload the page.',
};

/** A fixed, human message for an error code (unknown codes get a generic one; the code itself is never shown). */
export function messageFor(code, retryAfter, fields) {
  let message = Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : 'Something went wrong. Please try again.';
  const seconds = Number(retryAfter);
  if (code === 'throttled') {
    message += Number.isInteger(seconds) && seconds > 0 ? ` Try again in ${seconds} seconds.` : ' Try again later.';
  }
  if (fields && typeof fields === 'object') {
    const labels = { email: 'Email', password: 'Password', name: 'Name', code: 'Code', recoveryCode: 'Recovery code' };
    const details = Object.entries(fields)
      .filter(([field, problem]) => Object.hasOwn(labels, field) && typeof problem === 'string')
      .map(([field, problem]) => `${labels[field]} ${problem}.`);
    if (details.length) message += ` ${details.join(' ')}`;
  }
  return message;
}

/** Send the browser to the login page, to come back to this page afterwards. */
export function goToLogin(returnTo = location.pathname + location.search) {
  const back = safeRedirectPath(returnTo, '/dashboard');
  location.replace(`/auth/login?callbackUrl=${encodeURIComponent(back)}`);
}

/** A <time> element for an ISO timestamp, as text only. */
export function timeElement(iso) {
  const element = document.createElement('time');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    element.textContent = '—';
    return element;
  }
  element.dateTime = date.toISOString();
  element.textContent = date.toLocaleString();
  return element;
}

/** "Chrome on Linux"-style summary of a User-Agent string (the full string goes in a title). */
export function describeAgent(userAgent) {
  if (!userAgent) return 'Unknown device';
  const browser = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']]
    .find(([token]) => userAgent.includes(token))?.[1];
  const system = [['Windows', 'Windows'], ['Android', 'Android'], ['iPhone', 'iOS'], ['iPad', 'iPadOS'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']]
    .find(([token]) => userAgent.includes(token))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser || system || userAgent.slice(0, 60);
}

/** Mirror the auth state on <html data-auth="..."> (for styling and the tests). */
auth.subscribe((state) => {
  document.documentElement.dataset.auth = state.status;
});
