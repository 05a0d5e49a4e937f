interface StoredCookie {
  name: string;
  value: string;
  path: string;
}

/**
 * A minimal browser for tests: fetch with a cookie jar (honouring Path) and
 * manual redirects, so each hop of the OAuth login can be observed.
 */
export class Browser {
  private cookies = new Map<string, StoredCookie>();

  cookieHeader(url: URL): string {
    return [...this.cookies.values()]
      .filter((cookie) => url.pathname.startsWith(cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  /** The value of a cookie in the jar (by name, any path). */
  cookie(name: string): string | undefined {
    return [...this.cookies.values()].find((cookie) => cookie.name === name)?.value;
  }

  /** Puts a cookie in the jar as a server could have set it (to try forged or copied ones). */
  setCookie(name: string, value: string, path = '/'): void {
    this.cookies.set(`${name};${path}`, { name, value, path });
  }

  private remember(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const pathAttribute = attributes.find((attribute) => attribute.toLowerCase().startsWith('path='));
      const cookiePath = pathAttribute ? pathAttribute.slice(5) : '/';
      const expired = attributes.some((attribute) => /^expires=thu, 01 jan 1970/i.test(attribute)) || value === '';
      const key = `${name};${cookiePath}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path: cookiePath });
    }
  }

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('Cookie', cookie);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    this.remember(response);
    return response;
  }

  /** Follows redirects (GET) until one leaves for `stopAt`, or a page answers. */
  async follow(response: Response, from: string | URL, stopAt?: string): Promise<{ response: Response; url: URL }> {
    let current = response;
    let url = new URL(from);
    for (let hops = 0; hops < 10 && current.status >= 300 && current.status < 400; hops += 1) {
      const location = new URL(current.headers.get('location') ?? '', url);
      if (stopAt && location.href.startsWith(stopAt)) return { response: current, url: location };
      await current.arrayBuffer();
      url = location;
      current = await this.request(url);
    }
    return { response: current, url };
  }

  postForm(url: string | URL, fields: Record<string, string>): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}
