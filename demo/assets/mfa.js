// The second step of a sign-in (/auth/mfa?callbackUrl=...: after a login that answered mfaRequired) and the
// step-up before a page that needs a second factor (/auth/mfa?stepUp=1&callbackUrl=...: where nginx's gate sends
// a session that signed in without one). The forms work without JavaScript (the service answers form posts with
// 303 redirects: to callbackUrl, or back here with ?error=<code>); with it they are sent with the client, which
// records the sign-in for the automatic refresh in every tab.
//
// Passkeys (#18): "Use your passkey" where the account has one and the browser can use it. For the second step of
// a sign-in the login page passes the factors the service named (?factors=passkey,recovery_code); for a step-up
// the page asks for the account's factors. The code form is shown only when an authenticator app is among them.
import { AuthError, safeRedirectPath } from '/assets/auth.js';
import { auth, goToLogin, messageFor } from '/assets/demo.js';

const $ = (id) => document.getElementById(id);
const errorBox = $('form-error');
const forms = [...document.querySelectorAll('form[data-mfa-form]')];
const params = new URLSearchParams(location.search);
const stepUp = params.get('stepUp') === '1';

/**
 * Where to go afterwards. The service's redirects encode it (`callbackUrl=%2Fadmin`, maybe followed by
 * `&retryAfter=`); the gate's step-up redirect appends the request's URI as it came (`callbackUrl=/admin?a=1&b=2`),
 * so everything after `callbackUrl=` is the path. Only a path on this site is kept.
 */
function callbackFrom(search) {
  const match = /(?:^\?|&)callbackUrl=(.*)$/.exec(search);
  if (!match) return null;
  const value = match[1];
  if (value.toLowerCase().startsWith('%2f')) {
    try {
      return decodeURIComponent(value.split('&')[0]);
    } catch {
      return null;
    }
  }
  return value;
}

const callbackUrl = safeRedirectPath(stepUp ? callbackFrom(location.search) : params.get('callbackUrl'), '/dashboard');
for (const form of forms) form.elements.callbackUrl.value = callbackUrl;
for (const link of document.querySelectorAll('a[data-keep-callback]')) {
  link.href = `${link.pathname}?callbackUrl=${encodeURIComponent(callbackUrl)}`;
}

const MESSAGES = {
  invalid_request: 'Enter the 6-digit code from your app, or one of your recovery codes.',
  mfa_unavailable: 'Second factors are not available on this site right now. Please try again later.',
};

function message(code, retryAfter) {
  return Object.hasOwn(MESSAGES, code) ? MESSAGES[code] : messageFor(code, retryAfter);
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.focus();
}

// An error from a form round trip: normally already rendered by the server (SSI); rendered here if not.
const code = params.get('error');
if (code && !errorBox.textContent.trim()) showError(message(code, params.get('retryAfter')));

for (const form of forms) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const field = form.dataset.mfaForm; // "code" or "recoveryCode"
    const input = form.elements[field];
    const value = field === 'code' ? input.value.replace(/\s+/g, '') : input.value.trim();
    const submit = form.querySelector('button[type="submit"]');
    errorBox.textContent = '';
    input.removeAttribute('aria-invalid');
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      if (stepUp) await auth.reauthenticate({ [field]: value });
      else await auth.verifyMfa({ [field]: value });
      location.replace(callbackUrl);
    } catch (error) {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
      if (stepUp && auth.getState().status === 'signed-out') {
        goToLogin(callbackUrl); // the session ended meanwhile
        return;
      }
      input.value = '';
      if (error instanceof AuthError) {
        if (error.code === 'invalid_code' || error.code === 'invalid_request') input.setAttribute('aria-invalid', 'true');
        showError(message(error.code, error.retryAfter));
      } else {
        showError('The server could not be reached. Check your connection and try again.');
      }
    }
  });
}

// --- passkeys -------------------------------------------------------------------------------------------------

const passkeyButton = $('passkey-verify');

function passkeyMessage(error) {
  if (!(error instanceof AuthError)) return 'The server could not be reached. Check your connection and try again.';
  if (error.code === 'invalid_code') {
    return stepUp ? 'That passkey was not accepted. Try again, or use another factor.'
      : 'That passkey was not accepted, or the sign-in waited too long (5 minutes): try again, or sign in again.';
  }
  if (error.code === 'not_found') return 'Your account has no passkey: use a code instead.';
  return message(error.code, error.retryAfter);
}

passkeyButton.addEventListener('click', async () => {
  errorBox.textContent = '';
  passkeyButton.disabled = true;
  $('passkey-step').setAttribute('aria-busy', 'true');
  try {
    if (stepUp) await auth.reauthenticateWithPasskey();
    else await auth.verifyMfaWithPasskey();
    location.replace(callbackUrl);
  } catch (error) {
    passkeyButton.disabled = false;
    $('passkey-step').removeAttribute('aria-busy');
    if (stepUp && auth.getState().status === 'signed-out') {
      goToLogin(callbackUrl); // the session ended meanwhile
      return;
    }
    showError(passkeyMessage(error));
  }
});

/**
 * Shows what fits the account's factors (kinds: 'totp', 'passkey', 'recovery_code'; null when not known, e.g. after
 * a form post without JavaScript: then everything is offered).
 */
function showFactors(kinds) {
  const has = (kind) => kinds === null || kinds.includes(kind);
  const passkey = has('passkey') && auth.passkeysSupported();
  $('passkey-step').hidden = !passkey;
  $('code-form').hidden = !has('totp');
  $('recovery').hidden = !has('recovery_code');
  if (passkey) {
    const app = has('totp') ? ', or enter the code your authenticator app shows' : '';
    $('intro').textContent = stepUp
      ? `The page you asked for needs a sign-in with a second factor. Use your passkey${app}.`
      : `Your password was right. Use your passkey${app} to finish signing in.`;
    if (!has('totp')) passkeyButton.focus();
  }
}

async function prepareStepUp() {
  // A step-up is for a signed-in user: who, and does the account have a factor to step up with?
  const user = await auth.start();
  if (!user) {
    goToLogin(callbackUrl);
    return false;
  }
  const { factors, recoveryCodesLeft } = await auth.mfa();
  if (factors.length === 0) {
    $('enrol-link').href = `/auth/security?callbackUrl=${encodeURIComponent(callbackUrl)}`;
    $('no-factor').hidden = false;
    for (const form of forms) form.hidden = true;
    $('recovery').hidden = true;
  } else {
    showFactors([...factors.map((factor) => factor.kind), ...(recoveryCodesLeft > 0 ? ['recovery_code'] : [])]);
  }
  return true;
}

try {
  if (!stepUp) {
    const named = params.get('factors');
    showFactors(named ? named.split(',') : null);
  }
  if (!stepUp || (await prepareStepUp())) document.documentElement.dataset.ready = 'true';
} catch (error) {
  showError(error instanceof AuthError ? message(error.code, error.retryAfter) : 'The server could not be reached.');
}
