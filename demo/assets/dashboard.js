// The protected dashboard: the user (GET /api/auth/me), their sessions with a sign-out button each, sign out,
// sign out everywhere, and a call to the protected API through fetchWithAuth.
import { AuthError } from '/assets/auth.js';
import { auth, describeAgent, goToLogin, messageFor, timeElement } from '/assets/demo.js';

const $ = (id) => document.getElementById(id);
const status = $('status');

function say(message) {
  status.textContent = message;
}

auth.subscribe((state) => {
  // Signed out here or in another tab, or the session ended: back to the login page.
  if (state.status === 'signed-out') goToLogin();
  if (state.renewedAt) {
    $('renewed-at').replaceChildren(timeElement(new Date(state.renewedAt).toISOString()));
  }
});

function renderUser(user) {
  $('user-name').textContent = user.name || '—';
  $('user-email').textContent = user.email;
  $('user-role').textContent = user.role;
  $('user-id').textContent = user.id;
  $('user-verified').textContent = user.emailVerified ? 'yes' : 'no';
  $('user').hidden = false;
  $('greeting').textContent = `Welcome, ${user.name || user.email}`;
}

async function signOutSession(session, button) {
  button.disabled = true;
  try {
    if (session.current) {
      await auth.logout(); // the subscriber sends this tab (and the others) to the login page
      return;
    }
    await auth.revokeSession(session.id);
    say(`Signed out ${describeAgent(session.userAgent)}.`);
    await loadSessions();
  } catch (error) {
    button.disabled = false;
    say(error instanceof AuthError ? messageFor(error.code) : 'The server could not be reached.');
  }
}

async function loadSessions() {
  const sessions = await auth.sessions();
  const rows = sessions.map((session) => {
    const row = document.createElement('tr');
    row.dataset.sessionId = session.id;
    row.dataset.current = String(session.current);
    const device = document.createElement('td');
    device.className = 'device';
    const name = document.createElement('span');
    name.textContent = describeAgent(session.userAgent);
    name.title = session.userAgent || '';
    name.id = `device-${session.id}`;
    device.append(name);
    if (session.current) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this device';
      device.append(' ', badge);
    }
    const address = document.createElement('td');
    address.textContent = session.ip || '—';
    const created = document.createElement('td');
    created.append(timeElement(session.createdAt));
    const used = document.createElement('td');
    used.append(timeElement(session.lastUsedAt));
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary sign-out-session';
    button.textContent = session.current ? 'Sign out this device' : 'Sign out';
    if (!session.current) button.setAttribute('aria-describedby', name.id);
    button.addEventListener('click', () => signOutSession(session, button));
    action.append(button);
    row.append(device, address, created, used, action);
    return row;
  });
  $('sessions-body').replaceChildren(...rows);
  $('sessions-count').textContent = `${sessions.length} active ${sessions.length === 1 ? 'session' : 'sessions'}`;
}

$('logout-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await auth.logout();
  } catch {
    say('Signing out failed: the server could not be reached.');
  }
});

$('logout-all').addEventListener('click', async () => {
  try {
    await auth.logoutAll();
  } catch (error) {
    say(error instanceof AuthError ? messageFor(error.code) : 'The server could not be reached.');
  }
});

$('call-api').addEventListener('click', async () => {
  const output = $('api-result');
  output.textContent = 'Calling…';
  try {
    const response = await auth.fetchWithAuth('/api/protected/hello', { headers: { Accept: 'application/json' } });
    const text = await response.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: shown as received
    }
    output.textContent = `HTTP ${response.status}\n${shown}`;
    output.dataset.status = String(response.status);
  } catch {
    output.textContent = 'The server could not be reached.';
  }
});

try {
  const user = await auth.start();
  if (user) {
    renderUser(user);
    await loadSessions();
    say('');
    document.documentElement.dataset.ready = 'true';
  } else {
    goToLogin();
  }
} catch (error) {
  say(error instanceof AuthError ? messageFor(error.code) : 'The server could not be reached.');
}
