import { CopyButton } from '../controls.js';

/** The Leads API's address on this server. */
export const leadsApiUrl = () => `${window.location.origin}/api/v1/leads`;

/** A curl call an Owner can hand to a CRM vendor with the key. The key itself stays a placeholder. */
export function curlExample(): string {
  return [
    `curl -sS ${leadsApiUrl()} \\`,
    '  -H "Authorization: Bearer $OCTIV_API_KEY" \\',
    "  -H 'Content-Type: application/json' \\",
    '  -H "Idempotency-Key: <your id for this lead>" \\',
    `  -d '{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+1 555 0100","source":"Landing page","notes":"Wants a trial class"}'`,
  ].join('\n');
}

/**
 * Connect your system: where the key goes, the header, an example to copy,
 * what the answers mean, and the reference documents.
 */
export function ConnectYourSystem(props: { headingLevel?: 2 | 3 }) {
  const Heading = props.headingLevel === 3 ? 'h3' : 'h2';
  return (
    <section class="connect" aria-labelledby="connect-title">
      <Heading id="connect-title">Connect your system</Heading>
      <p>Give these to the person setting up your CRM or landing page, with the key:</p>
      <dl class="facts">
        <dt>Leads API address</dt>
        <dd>
          <code class="wrap">{leadsApiUrl()}</code> (<code>POST</code>, JSON)
        </dd>
        <dt>Header</dt>
        <dd>
          <code class="wrap">Authorization: Bearer &lt;the API key&gt;</code>
        </dd>
      </dl>
      <p id="curl-label" class="label">Example</p>
      <pre class="code" aria-labelledby="curl-label" tabIndex={0}>
        {curlExample()}
      </pre>
      <div class="copy-line">
        <CopyButton text={curlExample()} label="Copy example" describedBy="curl-label" />
      </div>
      <details>
        <summary>What the answers mean</summary>
        <ul class="answers">
          <li>
            <strong>201 Created</strong>: the lead is stored; the body is the lead, with its <code>id</code>.
          </li>
          <li>
            <strong>400</strong>: a field breaks a rule; <code>errors</code> names each field.
          </li>
          <li>
            <strong>401</strong>: the key is missing, mistyped, expired or deleted.
          </li>
          <li>
            <strong>409</strong>: that email is already a member; <code>leadId</code> names them.
          </li>
          <li>
            <strong>429</strong>: too many requests; wait the seconds in <code>Retry-After</code>.
          </li>
        </ul>
        <p class="muted">
          Retries with the same <code>Idempotency-Key</code> never make a second lead.
        </p>
      </details>
      <p class="muted">
        Reference: <a href="/docs">API reference</a> · <a href="/api/v1/openapi.json">OpenAPI document</a>
      </p>
    </section>
  );
}
