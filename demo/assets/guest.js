// The login and register pages. The forms work without JavaScript (the service answers form posts with 303
// redirects: to callbackUrl, or back here with ?error=<code>, whose message nginx's SSI renders). With
// JavaScript they are sent with the client instead: errors show without a reload, and the client records the
// sign-in for the automatic refresh in every tab. A user with a second factor goes on to its page (/auth/mfa), as
// the form post's redirect does; one whose role needs a factor and has none, to the security settings.
//
// Passkeys (#18), on the login page where the browser can use them: "Sign in with a passkey" (any passkey of this
// site on the device: discoverable credentials), and passkeys offered in the email field's autofill where the
// browser has conditional mediation (the field becomes autocomplete="username webauthn" and a request waits for the
// user's choice; pressing the button aborts it first).
import { AuthError, isMfaChallenge, safeRedirectPath } from '/assets/auth.js';
import { auth, messageFor } from '/assets/demo.js';

const form = document.querySelector('form[data-auth-form]');
const mode = form.dataset.authForm; // "login" or "register"
const errorBox = document.getElementById('form-error');
const submit = form.querySelector('button[type="submit"]');
const params = new URLSearchParams(location.search);

// Where to go afterwards: only a path on this site (the service applies the same rule to the form field).
const callbackUrl = safeRedirectPath(params.get('callbackUrl'), '/dashboard');
form.elements.callbackUrl.value = callbackUrl;
for (const link of document.querySelectorAll('a[data-keep-callback]')) {
  const url = new URL(link.getAttribute('href'), location.origin);
  url.searchParams.set('callbackUrl', callbackUrl);
  link.href = url.pathname + url.search;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.focus();
}

function clearError() {
  errorBox.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

// An error from a form round trip: normally already rendered by the server (SSI); rendered here if not.
const code = params.get('error');
if (code && !errorBox.textContent.trim()) showError(messageFor(code, params.get('retryAfter')));

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError();
  submit.disabled = true;
  form.setAttribute('aria-busy', 'true');
  const email = form.elements.email.value;
  const password = form.elements.password.value;
  try {
    const result = mode === 'register'
      ? await auth.register({ email, password, name: form.elements.name.value.trim() })
      : await auth.login(email, password);
    const back = encodeURIComponent(callbackUrl);
    if (isMfaChallenge(result)) {
      // The factors this sign-in takes (passkey, totp, recovery_code): the code step shows what fits.
      const factors = encodeURIComponent(result.factors.join(','));
      location.assign(`/auth/mfa?factors=${factors}&callbackUrl=${back}`); // Back returns to this form
    } else if (auth.getState().mfaEnrolmentRequired) {
      location.replace(`/auth/security?enrol=required&callbackUrl=${back}`);
    } else {
      location.replace(callbackUrl);
    }
  } catch (error) {
    submit.disabled = false;
    form.removeAttribute('aria-busy');
    if (error instanceof AuthError) {
      showError(messageFor(error.code, error.retryAfter, error.fields));
      for (const field of Object.keys(error.fields || {})) {
        const input = form.elements.namedItem(field);
        if (input instanceof HTMLInputElement) input.setAttribute('aria-invalid', 'true');
      }
      if (error.code === 'invalid_credentials') form.elements.password.value = '';
    } else {
      showError('The server could not be reached. Check your connection and try again.');
    }
  }
});

// --- passkeys (the login page) -----------------------------------------------------------------------------------

const passkeyBox = document.getElementById('passkey-signin');
const passkeyButton = document.getElementById('passkey-login');

function passkeyMessage(error) {
  if (!(error instanceof AuthError)) return 'The server could not be reached. Check your connection and try again.';
  // Any passkey that does not verify answers invalid_credentials (e.g. one removed from the account meanwhile).
  if (error.code === 'invalid_credentials') return 'That passkey did not sign you in. Use another one, or your password.';
  return messageFor(error.code, error.retryAfter);
}

// The browser's failures before the user chose anything (no passkey here, or the wrong address for the rp id).
const BROWSER_REFUSALS = ['passkey_cancelled', 'passkey_wrong_origin', 'passkey_failed'];

/** Passkeys in the email field's autofill, while the page is open (again after the button's attempt). */
async function offerAutofill() {
  if (!(await auth.passkeyAutofillAvailable())) return;
  form.elements.email.autocomplete = 'username webauthn';
  document.documentElement.dataset.passkeyAutofill = 'on';
  try {
    if (await auth.startPasskeyAutofill()) location.replace(callbackUrl);
    // null: aborted, because the button started a ceremony of its own.
  } catch (error) {
    if (error instanceof AuthError && error.code === 'passkeys_unavailable') {
      passkeyBox.hidden = true;
    } else if (!(error instanceof AuthError) || !BROWSER_REFUSALS.includes(error.code)) {
      // The user picked a passkey and it did not sign in (the other failures are the browser's, before any choice).
      // Not offered again by itself: the button (or a reload) does.
      showError(passkeyMessage(error));
    }
  }
}

if (mode === 'login' && passkeyBox && auth.passkeysSupported()) {
  passkeyBox.hidden = false;
  passkeyButton.addEventListener('click', async () => {
    clearError();
    passkeyButton.disabled = true;
    passkeyBox.setAttribute('aria-busy', 'true');
    try {
      await auth.loginWithPasskey(); // any passkey of this site on the device; aborts the autofill's request first
      location.replace(callbackUrl);
    } catch (error) {
      passkeyButton.disabled = false;
      passkeyBox.removeAttribute('aria-busy');
      if (error instanceof AuthError && error.code === 'passkeys_unavailable') passkeyBox.hidden = true;
      showError(passkeyMessage(error));
      if (!passkeyBox.hidden) offerAutofill();
    }
  });
  offerAutofill();
}
