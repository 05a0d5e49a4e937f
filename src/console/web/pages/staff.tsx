import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, call, type Me, type StaffMember } from '../api.js';
import { ROLE_NAMES, SYSTEM_INTEGRATIONS_DESCRIPTION } from '../labels.js';

/** The actions menu next to a staff member's name: View/Edit. */
function ActionsMenu(props: { member: StaffMember; onOpen: () => void }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const item = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) item.current?.focus();
  }, [open]);
  const close = () => {
    setOpen(false);
    button.current?.focus();
  };
  return (
    <div class="menu">
      <button
        type="button"
        class="secondary small"
        ref={button}
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Actions for ${props.member.name}`}
        onClick={() => setOpen(!open)}
      >
        ⋯
      </button>
      {open && (
        <div
          role="menu"
          class="menu-list"
          onKeyDown={(event) => {
            if (event.key === 'Escape') close();
          }}
          onFocusOut={(event) => {
            if (!(event.currentTarget as HTMLElement).contains(event.relatedTarget as Node)) setOpen(false);
          }}
        >
          <button type="button" role="menuitem" ref={item} onClick={props.onOpen}>
            View/Edit
          </button>
        </div>
      )}
    </div>
  );
}

export function StaffList(props: { navigate: (path: string) => void; onError: (error: unknown) => void }) {
  const [staff, setStaff] = useState<StaffMember[]>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    call('GET', '/staff').then(
      (result) => setStaff(result.items),
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 403) setProblem('Your role cannot see the staff list.');
        else props.onError(error);
      },
    );
  }, []);
  return (
    <section aria-labelledby="staff-title">
      <h1 id="staff-title">Staff</h1>
      {problem && <p class="notice">{problem}</p>}
      {!staff && !problem && <p aria-live="polite">Loading…</p>}
      {staff && (
        <div class="card">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="wide-only">Email</th>
                <th scope="col">Role</th>
                <th scope="col">System Integrations</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {staff.map((member) => (
                <tr key={member.id}>
                  <td>{member.name}</td>
                  <td class="wide-only">{member.email}</td>
                  <td>{ROLE_NAMES[member.role]}</td>
                  <td>{member.permissions.systemIntegrations ? 'On' : 'Off'}</td>
                  <td class="actions">
                    <ActionsMenu member={member} onOpen={() => props.navigate(`/console/staff/${member.id}`)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Staff > View/Edit, with the Access tab where an Owner grants System Integrations. */
export function StaffDetail(props: { staffId: string; me: Me; navigate: (path: string) => void; onError: (error: unknown) => void; onChanged: () => void }) {
  const [member, setMember] = useState<StaffMember>();
  const [tab, setTab] = useState<'profile' | 'access'>('profile');
  const [checked, setChecked] = useState(false);
  const [saving, setSaving] = useState(false);
  const [result, setResult] = useState<{ message: string; warnings: string[] }>();
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    call('GET', '/staff').then(
      (list) => {
        const found = list.items.find((item) => item.id === props.staffId);
        if (!found) setProblem('This staff member was not found.');
        setMember(found);
        setChecked(found?.permissions.systemIntegrations ?? false);
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 403) setProblem('Your role cannot see staff details.');
        else props.onError(error);
      },
    );
  }, [props.staffId]);

  const canEdit = props.me.role === 'owner' && member?.role !== 'owner';
  const submit = async (event: Event) => {
    event.preventDefault();
    if (!member) return;
    setSaving(true);
    setResult(undefined);
    setProblem(undefined);
    try {
      const updated = await call('PUT', '/staff/{staffId}/access', { path: { staffId: member.id }, body: { systemIntegrations: checked } });
      setMember(updated);
      setResult({
        message: `System Integrations is now ${updated.permissions.systemIntegrations ? 'on' : 'off'} for ${updated.name}.`,
        warnings: updated.warnings ?? [],
      });
      props.onChanged();
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) setProblem(error.message);
      else props.onError(error);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section aria-labelledby="member-title">
      <p>
        <a href="/console/staff" onClick={(event) => (event.preventDefault(), props.navigate('/console/staff'))}>
          ← Staff
        </a>
      </p>
      <h1 id="member-title">{member ? member.name : 'Staff member'}</h1>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {member && (
        <div class="card">
          <div role="tablist" aria-label="Staff member" class="tabs">
            {(['profile', 'access'] as const).map((name) => (
              <button
                type="button"
                role="tab"
                id={`tab-${name}`}
                aria-selected={tab === name}
                aria-controls={`panel-${name}`}
                tabIndex={tab === name ? 0 : -1}
                onClick={() => setTab(name)}
                onKeyDown={(event) => {
                  if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
                    const next = name === 'profile' ? 'access' : 'profile';
                    setTab(next);
                    document.getElementById(`tab-${next}`)?.focus();
                  }
                }}
              >
                {name === 'profile' ? 'Profile' : 'Access'}
              </button>
            ))}
          </div>
          {tab === 'profile' ? (
            <div role="tabpanel" id="panel-profile" aria-labelledby="tab-profile" class="panel">
              <dl>
                <dt>Name</dt>
                <dd>{member.name}</dd>
                <dt>Email</dt>
                <dd>{member.email}</dd>
                <dt>Role</dt>
                <dd>{ROLE_NAMES[member.role]}</dd>
              </dl>
            </div>
          ) : (
            <div role="tabpanel" id="panel-access" aria-labelledby="tab-access" class="panel">
            <form onSubmit={submit}>
              <fieldset class="group">
                <legend>Octiv Access</legend>
                <div class="check">
                  <input
                    type="checkbox"
                    id="system-integrations"
                    checked={checked}
                    disabled={!canEdit || saving}
                    aria-describedby="system-integrations-description"
                    onChange={(event) => setChecked((event.currentTarget as HTMLInputElement).checked)}
                  />
                  <div>
                    <label for="system-integrations">System Integrations</label>
                    <p id="system-integrations-description" class="muted">
                      {SYSTEM_INTEGRATIONS_DESCRIPTION}
                    </p>
                  </div>
                </div>
              </fieldset>
              {member.role === 'trainer' && checked && !member.permissions.systemIntegrations && (
                <p class="notice">Granting System Integrations to a Trainer is allowed, but not recommended.</p>
              )}
              {member.role === 'owner' && <p class="muted">An Owner always has System Integrations.</p>}
              {props.me.role !== 'owner' && <p class="muted">Only an Owner can change access.</p>}
              {result && (
                <div role="status" class="success">
                  <p>{result.message}</p>
                  {result.warnings.map((warning) => (
                    <p class="warning" key={warning}>
                      {warning}
                    </p>
                  ))}
                </div>
              )}
              <button type="submit" disabled={!canEdit || saving}>
                {saving ? 'Saving…' : 'Submit'}
              </button>
            </form>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
