import { useEffect, useState } from "preact/hooks";
import { api, type EnvInfo, type PersonActivity, type Photo } from "./api.js";

/** Which env this page talks to: the first thing to check before touching data. Red for prod. */
function Banner({ info }: { info: EnvInfo | undefined }) {
  if (!info) return <header class="banner">…</header>;
  return (
    <header class={info.production ? "banner prod" : "banner"} data-env={info.env}>
      env <strong>{info.env}</strong>
      <span class="where">
        {info.database} database · bucket {info.bucket}
      </span>
    </header>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (name: string) => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string>();
  return (
    <form
      class="card sign-in"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          onSignedIn((await api.signIn(name)).name);
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h1>Family photos</h1>
      <label>
        Your name <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <button type="submit">Sign in</button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function Upload({ onPosted }: { onPosted: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  return (
    <form
      class="card upload"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget;
        const file = (form.elements.namedItem("photo") as HTMLInputElement).files?.[0];
        const caption = (form.elements.namedItem("caption") as HTMLInputElement).value;
        if (!file) return;
        setBusy(true);
        setError(undefined);
        try {
          await api.upload(file, caption);
          form.reset();
          onPosted();
        } catch (err) {
          setError((err as Error).message);
        } finally {
          setBusy(false);
        }
      }}
    >
      <input type="file" name="photo" accept="image/*" required />
      <input name="caption" placeholder="Caption" maxLength={200} />
      <button type="submit" disabled={busy}>
        {busy ? "Uploading…" : "Post photo"}
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function PhotoCard({ photo, onChanged }: { photo: Photo; onChanged: () => void }) {
  const [words, setWords] = useState("");
  return (
    <article class="card photo" data-photo={photo.id}>
      <img src={photo.thumbUrl} alt={photo.caption || `a photo by ${photo.owner}`} />
      <p class="caption">
        <strong>{photo.owner}</strong> {photo.caption}
      </p>
      <ul class="comments">
        {photo.comments.map((c) => (
          <li key={c.id}>
            <strong>{c.author}</strong> {c.body}
          </li>
        ))}
      </ul>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          await api.comment(photo.id, words);
          setWords("");
          onChanged();
        }}
      >
        <input
          name="comment"
          placeholder="Add a comment"
          value={words}
          onInput={(e) => setWords(e.currentTarget.value)}
          required
        />
        <button type="submit">Comment</button>
      </form>
    </article>
  );
}

function Feed() {
  const [photos, setPhotos] = useState<Photo[]>();
  const load = () => void api.photos().then(setPhotos);
  useEffect(load, []);
  return (
    <main>
      <Upload onPosted={load} />
      {photos?.length === 0 && <p class="empty">No photos in this env yet.</p>}
      {photos?.map((p) => (
        <PhotoCard key={p.id} photo={p} onChanged={load} />
      ))}
    </main>
  );
}

function Activity() {
  const [rows, setRows] = useState<PersonActivity[]>();
  useEffect(() => void api.activity().then(setRows), []);
  return (
    <main class="card activity">
      <h2>Who posted what</h2>
      <table>
        <thead>
          <tr>
            <th>who</th>
            <th>photos</th>
            <th>comments</th>
            <th>last active</th>
          </tr>
        </thead>
        <tbody>
          {rows?.map((r) => (
            <tr key={r.who}>
              <td>{r.who}</td>
              <td>{r.photos}</td>
              <td>{r.comments}</td>
              <td>{r.lastActive}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}

export function App() {
  const [info, setInfo] = useState<EnvInfo>();
  const [me, setMe] = useState<string | null>();
  const [page, setPage] = useState(location.hash === "#/activity" ? "activity" : "feed");
  useEffect(() => {
    void api.env().then(setInfo);
    void api.me().then((name) => setMe(name ?? null));
    const onHash = () => setPage(location.hash === "#/activity" ? "activity" : "feed");
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  return (
    <>
      <Banner info={info} />
      {me === null && <SignIn onSignedIn={setMe} />}
      {me && (
        <>
          <nav>
            <a href="#/" class={page === "feed" ? "here" : ""}>
              Photos
            </a>
            <a href="#/activity" class={page === "activity" ? "here" : ""}>
              Who posted what
            </a>
            <span class="me">
              {me}{" "}
              <button type="button" onClick={() => void api.signOut().then(() => setMe(null))}>
                Sign out
              </button>
            </span>
          </nav>
          {page === "feed" ? <Feed /> : <Activity />}
        </>
      )}
    </>
  );
}
