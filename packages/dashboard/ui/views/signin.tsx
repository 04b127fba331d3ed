import { useState } from 'preact/hooks';
import { describe, getJson, session } from '../api';

/**
 * The admin token, checked against the gateway before it is kept (in sessionStorage, for this
 * tab only). `message`: why the gateway sent the page back here (its code and message).
 */
export function SignIn(props: { message: string | undefined; onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    session.signIn(token.trim());
    try {
      await getJson('/v1/functions');
      props.onSignedIn();
    } catch (err) {
      session.signOut();
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const shown = error ?? props.message;
  return (
    <article>
      <header>
        <h2>thaw dashboard</h2>
      </header>
      <form id="sign-in" onSubmit={(e) => void submit(e)}>
        <label>
          Admin token
          <input
            type="password"
            name="token"
            autocomplete="off"
            required
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            aria-invalid={shown ? true : undefined}
          />
        </label>
        {shown && (
          <p class="api-error" role="alert">
            {shown}
          </p>
        )}
        <button type="submit" aria-busy={busy}>
          Sign in
        </button>
      </form>
      <footer>
        <small>
          The token stays in this tab (sessionStorage) and is sent only as a bearer header to this gateway's
          API.
        </small>
      </footer>
    </article>
  );
}
