import '@picocss/pico/css/pico.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onUnauthorized, session } from './api';
import { route } from './route';
import { FunctionPage } from './views/function';
import { FunctionsPage } from './views/functions';
import { SignIn } from './views/signin';

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const [refusal, setRefusal] = useState<string | undefined>();
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onHash = () => setHash(location.hash);
    window.addEventListener('hashchange', onHash);
    const stop = onUnauthorized((message) => {
      setRefusal(message);
      setSignedIn(false);
    });
    return () => {
      window.removeEventListener('hashchange', onHash);
      stop();
    };
  }, []);

  if (!signedIn)
    return (
      <SignIn
        message={refusal}
        onSignedIn={() => {
          setRefusal(undefined);
          setSignedIn(true);
        }}
      />
    );
  const { fn } = route(hash);
  return (
    <>
      <nav>
        <ul>
          <li>
            <a href="#/">
              <strong>thaw</strong>
            </a>
          </li>
        </ul>
        <ul>
          <li>
            <a href="#/">Functions</a>
          </li>
          <li>
            <button
              type="button"
              class="secondary outline"
              id="sign-out"
              onClick={() => {
                session.signOut();
                setSignedIn(false);
              }}
            >
              Sign out
            </button>
          </li>
        </ul>
      </nav>
      {fn ? <FunctionPage key={fn} name={fn} /> : <FunctionsPage />}
    </>
  );
}

const root = document.getElementById('app');
if (root) {
  root.replaceChildren();
  render(<App />, root);
}
