const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/** A complete page in the server's plain style; `body` must already be escaped. */
export function renderPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Octiv</title>
<style>
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f6f8; color: #1d2730; }
  main { background: #fff; padding: 2rem; border-radius: 12px; box-shadow: 0 2px 12px rgb(0 0 0 / 8%); width: min(100% - 2rem, 24rem); box-sizing: border-box; }
  h1 { font-size: 1.4rem; margin: 0 0 1.25rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 .35rem; }
  input { width: 100%; box-sizing: border-box; padding: .6rem .7rem; font: inherit; border: 1px solid #a9b4bf; border-radius: 6px; }
  input:focus, button:focus { outline: 3px solid #7ab8ff; outline-offset: 1px; }
  button { margin-top: 1.5rem; width: 100%; padding: .7rem; font: inherit; font-weight: 600; color: #fff; background: #0b63ce; border: 0; border-radius: 6px; cursor: pointer; }
  button.secondary { margin-top: .75rem; background: #fff; color: #1d2730; border: 1px solid #a9b4bf; }
  .error { background: #fdecec; color: #8a1c1c; border: 1px solid #f3b9b9; padding: .6rem .8rem; border-radius: 6px; }
  .muted { color: #5b6875; font-size: .9rem; }
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export function renderErrorPage(options: { title: string; detail: string | undefined; requestId: string }): string {
  return renderPage(
    options.title,
    `<h1>${escapeHtml(options.title)}</h1>
<p>${escapeHtml(options.detail ?? 'Something went wrong on our side.')}</p>
<p class="muted">Request id: ${escapeHtml(options.requestId)}</p>`,
  );
}
