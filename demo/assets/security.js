// The security settings (/auth/security, a protected page): second factors. Add an authenticator app (the QR code
// or its key, then one of its codes), see the recovery codes once, list and remove factors, replace the recovery
// codes. Passkeys (#18): list, add with a name (the browser's dialog), rename, remove; the first factor's recovery
// codes are shown as an app's are. The routes that change factors need a recent sign-in: when one answers
// reauthentication_required (or mfa_required), a dialog asks for the password, a code or a passkey, and the change
// is tried again.
import { AuthError, safeRedirectPath } from '/assets/auth.js';
import { auth, goToLogin, messageFor, timeElement } from '/assets/demo.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const callbackUrl = params.has('callbackUrl') ? safeRedirectPath(params.get('callbackUrl'), '/dashboard') : null;
let summary = null; // the last GET /api/auth/mfa
let passkeyList = null; // the last GET /api/auth/passkeys

function say(message) {
  $('status').textContent = message;
}

function problem(error) {
  return error instanceof AuthError ? messageFor(error.code, error.retryAfter, error.fields) : 'The server could not be reached.';
}

auth.subscribe((state) => {
  if (state.status === 'signed-out') goToLogin();
});

// --- the QR code -------------------------------------------------------------------------------------------------

// The service's QR code is an <svg> of one <rect> and one <path> (libqrencode's modules). It is parsed as SVG, not
// HTML, checked element by element, and only known attributes are kept: nothing in it can run or load anything.
const SVG_NS = 'http://www.w3.org/2000/svg';
const SVG_ATTRIBUTES = {
  svg: ['xmlns', 'viewBox', 'width', 'height', 'shape-rendering', 'role', 'aria-label'],
  rect: ['x', 'y', 'width', 'height', 'fill'],
  path: ['d', 'fill'],
};

function qrElement(markup) {
  if (typeof markup !== 'string') return null;
  const parsed = new DOMParser().parseFromString(markup, 'image/svg+xml');
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== 'svg' || parsed.getElementsByTagNameNS('*', 'parsererror').length) {
    return null;
  }
  for (const element of [root, ...root.querySelectorAll('*')]) {
    const allowed = element.namespaceURI === SVG_NS && Object.hasOwn(SVG_ATTRIBUTES, element.localName)
      ? SVG_ATTRIBUTES[element.localName] : null;
    if (!allowed) return null;
    for (const attribute of [...element.attributes]) {
      if (!allowed.includes(attribute.name)) element.removeAttributeNode(attribute);
    }
  }
  root.setAttribute('role', 'img');
  root.setAttribute('aria-label', 'QR code of the authenticator key');
  return document.importNode(root, true);
}

// --- reauthentication -----------------------------------------------------------------------------------------

let pendingReauth = null; // {resolve} while the dialog is open

/** Opens the dialog; resolves to true once the session reauthenticated, false if the user cancelled. */
function askToReauthenticate(codeOnly) {
  const dialog = $('reauth');
  const kinds = summary ? summary.factors.map((factor) => factor.kind) : [];
  const hasCode = kinds.includes('totp') || (summary?.recoveryCodesLeft ?? 0) > 0;
  const hasPasskey = kinds.includes('passkey') && auth.passkeysSupported();
  $('reauth-password-form').hidden = codeOnly;
  $('reauth-code-form').hidden = !hasCode;
  $('reauth-passkey').hidden = !hasPasskey;
  const ways = [...(codeOnly ? [] : ['your password']), ...(hasPasskey ? ['a passkey'] : []),
    ...(kinds.includes('totp') ? ['a code from your app'] : hasCode ? ['a recovery code'] : [])];
  const listed = ways.length > 1 ? `${ways.slice(0, -1).join(', ')} or ${ways.at(-1)}` : ways[0] ?? 'your password';
  $('reauth-why').textContent = codeOnly
    ? `This change needs a sign-in with your second factor: confirm with ${listed}.`
    : `This change needs a recent sign-in: confirm with ${listed}.`;
  $('reauth-error').textContent = '';
  for (const form of dialog.querySelectorAll('form')) form.reset();
  $('reauth-username').value = auth.user?.email ?? ''; // for password managers
  return new Promise((resolve) => {
    pendingReauth = { resolve };
    dialog.showModal();
    (codeOnly ? $('reauth-code') : $('reauth-password')).focus();
  });
}

function closeReauth(result) {
  const pending = pendingReauth;
  pendingReauth = null;
  if ($('reauth').open) $('reauth').close();
  pending?.resolve(result);
}

for (const [formId, field] of [['reauth-password-form', 'password'], ['reauth-code-form', 'code']]) {
  const form = $(formId);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = form.elements[field];
    let proof = { password: input.value };
    if (field === 'code') {
      // Digits: a code of the app; anything else: a recovery code.
      const code = input.value.replace(/\s+/g, '');
      proof = /^[0-9]{6,8}$/.test(code) ? { code } : { recoveryCode: input.value.trim() };
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await auth.reauthenticate(proof);
      closeReauth(true);
    } catch (error) {
      input.value = '';
      $('reauth-error').textContent = error instanceof AuthError && error.code === 'invalid_credentials'
        ? 'Wrong password.' : problem(error);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
}
$('reauth-passkey-button').addEventListener('click', async () => {
  const button = $('reauth-passkey-button');
  button.disabled = true;
  $('reauth-error').textContent = '';
  try {
    await auth.reauthenticateWithPasskey();
    closeReauth(true);
  } catch (error) {
    $('reauth-error').textContent = error instanceof AuthError && error.code === 'invalid_code'
      ? 'That passkey was not accepted.' : problem(error);
  } finally {
    button.disabled = false;
  }
});
$('reauth-cancel').addEventListener('click', () => closeReauth(false));
$('reauth').addEventListener('close', () => closeReauth(false)); // Escape

class Cancelled extends Error {}

/** Runs `action`; when the service wants a fresh authentication first, asks for it and runs `action` again. */
async function withReauthentication(action) {
  for (let round = 0; ; round++) {
    try {
      return await action();
    } catch (error) {
      const codes = ['reauthentication_required', 'mfa_required'];
      if (round >= 2 || !(error instanceof AuthError) || !codes.includes(error.code)) throw error;
      // For a user with a factor, a session that signed in without it needs a code (mfa_required, which the
      // service tells only once the sign-in is recent): no use asking for the password.
      const codeOnly = error.code === 'mfa_required' || (summary?.factors.length > 0 && summary.assuranceLevel < 2);
      if (!(await askToReauthenticate(codeOnly))) throw new Cancelled();
    }
  }
}

// --- the list ------------------------------------------------------------------------------------------------

function render(next) {
  summary = next;
  const count = next.factors.length;
  // The apps are listed here, the passkeys in their own section.
  const apps = next.factors.filter((factor) => factor.kind !== 'passkey');
  const passkeys = count - apps.length;
  const parts = [
    ...(apps.length ? [apps.length === 1 ? 'one authenticator app' : `${apps.length} authenticator apps`] : []),
    ...(passkeys ? [passkeys === 1 ? 'one passkey' : `${passkeys} passkeys`] : []),
  ];
  $('summary').textContent = count === 0
    ? 'Off: signing in takes only your password.'
    : `On: ${parts.join(' and ')}, ${next.recoveryCodesLeft} `
      + `recovery ${next.recoveryCodesLeft === 1 ? 'code' : 'codes'} left.`;
  $('summary').dataset.factors = String(count);
  // At level 1 the session's methods are still those nginx passed with the page (X-Auth-AMR).
  const passkeyOnly = /(^| )(hwk|swk)( |$)/.test($('session-aal').dataset.amr || '');
  $('session-aal').textContent = next.assuranceLevel >= 2 ? 'signed in with a second factor'
    : passkeyOnly ? 'signed in with a passkey only' : 'signed in with the password only';
  $('new-codes').hidden = count === 0 || !next.available;
  $('add-totp').disabled = !next.available;
  if (!next.available) say('Authenticator apps are not set up on this site.');
  const rows = apps.map((factor) => {
    const row = document.createElement('tr');
    row.dataset.factorId = factor.id;
    const name = document.createElement('td');
    name.textContent = factor.name || (factor.kind === 'totp' ? 'Authenticator app' : factor.kind);
    name.id = `factor-${factor.id}`;
    const added = document.createElement('td');
    added.append(timeElement(factor.createdAt));
    const used = document.createElement('td');
    if (factor.lastUsedAt) used.append(timeElement(factor.lastUsedAt));
    else used.textContent = 'never';
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary remove-factor';
    button.textContent = 'Remove';
    button.setAttribute('aria-describedby', name.id);
    button.addEventListener('click', () => removeFactor(factor, button));
    action.append(button);
    row.append(name, added, used, action);
    return row;
  });
  $('factors-body').replaceChildren(...rows);
  $('factors').hidden = apps.length === 0;
}

async function reload() {
  const [factors, passkeys] = await Promise.all([auth.mfa(), auth.listPasskeys()]);
  render(factors);
  renderPasskeys(passkeys);
}

async function removeFactor(factor, button) {
  // Two presses: the first one asks.
  if (button.dataset.armed !== 'true') {
    button.dataset.armed = 'true';
    button.textContent = 'Press again to remove';
    return;
  }
  button.disabled = true;
  try {
    await withReauthentication(() => auth.removeMfaFactor(factor.id));
    say(`Removed ${factor.name || 'the authenticator app'}.`);
    await reload();
  } catch (error) {
    button.disabled = false;
    if (!(error instanceof Cancelled)) say(problem(error));
  }
}

// --- passkeys ---------------------------------------------------------------------------------------------------

function passkeysUsable() {
  return Boolean(passkeyList?.available) && auth.passkeysSupported();
}

function renderPasskeys(next) {
  passkeyList = next;
  const count = next.passkeys.length;
  $('passkeys-summary').textContent = !next.available ? 'Passkeys are not set up on this site.'
    : !auth.passkeysSupported() ? 'This browser cannot use passkeys on this page.'
      : count === 0 ? 'No passkey yet.' : `${count === 1 ? 'One passkey' : `${count} passkeys`}.`;
  $('passkeys-summary').dataset.passkeys = String(count);
  $('add-passkey').disabled = !passkeysUsable();
  const rows = next.passkeys.map((passkey) => {
    const row = document.createElement('tr');
    row.dataset.passkeyId = passkey.id;
    const name = document.createElement('td');
    name.id = `passkey-${passkey.id}`;
    const label = document.createElement('span');
    label.className = 'passkey-name';
    label.textContent = passkey.name || 'Passkey';
    name.append(label);
    if (passkey.synced) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'synced';
      badge.title = 'Kept by a password manager or your device account: it may be on your other devices too.';
      name.append(' ', badge);
    }
    const added = document.createElement('td');
    added.append(timeElement(passkey.createdAt));
    const used = document.createElement('td');
    if (passkey.lastUsedAt) used.append(timeElement(passkey.lastUsedAt));
    else used.textContent = 'never';
    const actions = document.createElement('td');
    actions.className = 'passkey-actions';
    const rename = document.createElement('button');
    rename.type = 'button';
    rename.className = 'secondary rename-passkey';
    rename.textContent = 'Rename';
    rename.setAttribute('aria-describedby', name.id);
    rename.addEventListener('click', () => editPasskeyName(passkey, name));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary remove-passkey';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-describedby', name.id);
    remove.addEventListener('click', () => removePasskey(passkey, remove));
    actions.append(rename, remove);
    row.append(name, added, used, actions);
    return row;
  });
  $('passkeys-body').replaceChildren(...rows);
  $('passkeys-table').hidden = count === 0;
}

/** Renaming in place: the name's cell becomes a small form. */
function editPasskeyName(passkey, cell) {
  const form = document.createElement('form');
  form.className = 'rename-form actions';
  const input = document.createElement('input');
  input.type = 'text';
  input.name = 'name';
  input.maxLength = 100;
  input.value = passkey.name || '';
  input.setAttribute('aria-label', 'New name of the passkey');
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Save';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'secondary';
  cancel.textContent = 'Cancel';
  cancel.addEventListener('click', () => renderPasskeys(passkeyList));
  form.append(input, save, cancel);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      await auth.renamePasskey(passkey.id, input.value.trim());
      say('The passkey was renamed.');
      await reload();
    } catch (error) {
      save.disabled = false;
      say(problem(error));
    }
  });
  cell.replaceChildren(form);
  input.focus();
}

async function removePasskey(passkey, button) {
  // Two presses: the first one asks.
  if (button.dataset.armed !== 'true') {
    button.dataset.armed = 'true';
    button.textContent = 'Press again to remove';
    return;
  }
  button.disabled = true;
  try {
    await withReauthentication(() => auth.removePasskey(passkey.id));
    say(`Removed ${passkey.name || 'the passkey'}. Remove it from your device too (its settings, or your password manager).`);
    await reload();
  } catch (error) {
    button.disabled = false;
    if (!(error instanceof Cancelled)) say(problem(error));
  }
}

$('passkey-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const submit = $('add-passkey');
  submit.disabled = true;
  say('');
  try {
    const name = $('passkey-name').value.trim();
    const { passkey, recoveryCodes } = await withReauthentication(() => auth.registerPasskey(name));
    $('passkey-form').reset();
    $('enrol-required')?.remove();
    say(passkey.name ? `The passkey ${passkey.name} was added.` : 'The passkey was added.');
    if (recoveryCodes) showCodes(recoveryCodes);
    if (callbackUrl) $('continue').hidden = false;
    await reload();
  } catch (error) {
    if (!(error instanceof Cancelled)) say(problem(error));
  } finally {
    submit.disabled = !passkeysUsable();
  }
});

// --- adding an app -------------------------------------------------------------------------------------------

function showCodes(codes) {
  const items = codes.map((code) => {
    const item = document.createElement('li');
    item.textContent = code;
    return item;
  });
  $('recovery-codes').replaceChildren(...items);
  $('codes').hidden = false;
  $('codes-heading').focus();
}

$('add-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const submit = $('add-totp');
  submit.disabled = true;
  say('');
  try {
    const enrolment = await withReauthentication(() => auth.beginTotp($('totp-name').value.trim()));
    const qr = qrElement(enrolment.qrSvg);
    $('totp-qr').replaceChildren(...(qr ? [qr] : []));
    $('totp-qr').hidden = !qr;
    $('totp-secret').textContent = enrolment.secret.match(/.{1,4}/g).join(' ');
    $('totp-link').href = enrolment.otpauthUri.startsWith('otpauth://') ? enrolment.otpauthUri : '#';
    $('confirm-error').textContent = '';
    $('confirm-form').reset();
    $('codes').hidden = true;
    $('enrol').hidden = false;
    $('enrol-heading').focus();
  } catch (error) {
    if (!(error instanceof Cancelled)) say(problem(error));
  } finally {
    submit.disabled = summary ? !summary.available : false;
  }
});

$('confirm-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const input = form.elements.code;
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  $('confirm-error').textContent = '';
  try {
    const codes = await auth.confirmTotp(input.value.replace(/\s+/g, ''));
    $('enrol').hidden = true;
    $('totp-qr').replaceChildren();
    $('totp-secret').textContent = '';
    $('enrol-required')?.remove();
    say('Two-step verification is on.');
    showCodes(codes);
    if (callbackUrl) $('continue').hidden = false;
    await reload();
  } catch (error) {
    input.value = '';
    $('confirm-error').textContent = problem(error);
    $('confirm-error').focus();
  } finally {
    submit.disabled = false;
  }
});

$('enrol-cancel').addEventListener('click', () => {
  $('enrol').hidden = true;
  $('totp-qr').replaceChildren();
  $('totp-secret').textContent = '';
});

$('new-codes').addEventListener('click', async () => {
  const button = $('new-codes');
  button.disabled = true;
  say('');
  try {
    const codes = await withReauthentication(() => auth.newRecoveryCodes());
    say('New recovery codes: the old ones no longer work.');
    showCodes(codes);
    await reload();
  } catch (error) {
    if (!(error instanceof Cancelled)) say(problem(error));
  } finally {
    button.disabled = false;
  }
});

$('copy-codes').addEventListener('click', async () => {
  const codes = [...$('recovery-codes').children].map((item) => item.textContent);
  try {
    await navigator.clipboard.writeText(codes.join('\n'));
    say('The recovery codes are on the clipboard.');
  } catch {
    say('Copying failed: select the codes and copy them by hand.');
  }
});

$('codes-done').addEventListener('click', () => {
  $('recovery-codes').replaceChildren();
  $('codes').hidden = true;
});

// --- start -----------------------------------------------------------------------------------------------------

if (callbackUrl) {
  $('continue-link').href = callbackUrl;
  if (!$('enrol-required')) $('continue').hidden = false;
}

try {
  const user = await auth.start();
  if (user) {
    await reload();
    if (summary.available) say('');
    document.documentElement.dataset.ready = 'true';
  } else {
    goToLogin();
  }
} catch (error) {
  say(problem(error));
}
