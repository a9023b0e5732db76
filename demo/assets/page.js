// Public and simple pages: who is signed in, in the header.
import { auth } from '/assets/demo.js';

const who = document.getElementById('who');
auth.subscribe((state) => {
  if (state.status === 'signed-in' && state.user) who.textContent = `Signed in as ${state.user.email}`;
  else if (state.status === 'signed-out') who.textContent = 'Not signed in';
});
auth.start().catch(() => {
  who.textContent = 'The server could not be reached.';
});
