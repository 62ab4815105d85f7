/** The server's API, as the pages use it. */
export interface EnvInfo {
  env: string;
  production: boolean;
  database: string;
  bucket: string;
}

export interface Comment {
  id: number;
  author: string;
  body: string;
  createdAt: string;
}

export interface Photo {
  id: string;
  owner: string;
  caption: string;
  thumbUrl: string;
  width: number;
  height: number;
  createdAt: string;
  comments: Comment[];
}

export interface PersonActivity {
  who: string;
  photos: number;
  comments: number;
  lastActive: string;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/api${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(problem.error ?? `${method} ${path}: ${response.status}`);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const api = {
  env: () => call<EnvInfo>("GET", "/env"),
  me: () =>
    call<{ name: string }>("GET", "/session").then(
      (r) => r.name,
      () => undefined,
    ),
  signIn: (name: string) => call<{ name: string }>("POST", "/session", { name }),
  signOut: () => call<void>("DELETE", "/session"),
  photos: () => call<Photo[]>("GET", "/photos"),
  activity: () => call<PersonActivity[]>("GET", "/activity"),
  comment: (photoId: string, body: string) => call<Comment>("POST", `/photos/${photoId}/comments`, { body }),

  /** Ask for a presigned POST, send the file straight to the bucket, then post the photo. */
  async upload(file: File, caption: string): Promise<void> {
    const ticket = await call<{ id: string; url: string; fields: Record<string, string> }>(
      "POST",
      "/uploads",
      {
        contentType: file.type,
      },
    );
    const form = new FormData();
    for (const [key, value] of Object.entries(ticket.fields)) form.append(key, value);
    form.append("file", file); // last: the bucket ignores fields after the file
    const stored = await fetch(ticket.url, { method: "POST", body: form });
    if (!stored.ok) throw new Error(`The bucket refused the upload (${stored.status}).`);
    await call("POST", "/photos", { id: ticket.id, caption });
  },
};
