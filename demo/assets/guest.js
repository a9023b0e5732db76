// The login and register pages. The forms work without JavaScript (the service answers form posts with 303
// redirects: to callbackUrl, or back here with ?error=<code>, whose message nginx's SSI renders). With
// JavaScript they are sent with the client instead: errors show without a reload, and the client records the
// sign-in for the automatic refresh in every tab. A user with a second factor goes on to its page (/auth/mfa), as
// the form post's redirect does; one whose role needs a factor and has none, to the security settings.
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
      location.assign(`/auth/mfa?callbackUrl=${back}`); // Back returns to this form
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
