import { lookup } from 'node:dns/promises';
import net from 'node:net';

/**
 * Where a webhook may go: an address on the public internet. Refused:
 * private, loopback, link-local (cloud metadata services live at
 * 169.254.169.254 and fd00:ec2::254), shared (carrier-grade NAT),
 * unspecified, multicast, broadcast, documentation, benchmarking and
 * reserved ranges, and IPv6 forms that embed a refused IPv4 address.
 */
const REFUSED = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped or -compatible IPv6 address (::ffff:10.0.0.1), if any. */
function embeddedIpv4(address: string): string | undefined {
  const match = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address) ?? /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!match) return undefined;
  if (match[2] === undefined) return match[1];
  const high = Number.parseInt(match[1]!, 16);
  const low = Number.parseInt(match[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** True for an address a webhook may be delivered to (see REFUSED). */
export function isPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const inner = embeddedIpv4(address.toLowerCase());
    if (inner) return isPublicAddress(inner);
    return !REFUSED.check(address, 'ipv6');
  }
  return !REFUSED.check(address, 'ipv4');
}

/** In production only public https addresses; outside it, http and local addresses too (a receiver on a laptop). */
export type AddressRule = { production: boolean };

/** The address a webhook URL is to be connected to: resolved once; every address the name has must be public (outside development). */
export async function resolveTarget(url: URL, rule: AddressRule): Promise<{ address: string; family: 4 | 6 } | { refused: string }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  if (net.isIP(host)) addresses = [{ address: host, family: net.isIP(host) }];
  else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch {
      return { refused: `the name ${host} does not resolve` };
    }
  }
  if (addresses.length === 0) return { refused: `the name ${host} does not resolve` };
  if (rule.production) {
    const refused = addresses.find((entry) => !isPublicAddress(entry.address));
    if (refused) return { refused: `${host} resolves to ${refused.address}, a private, loopback, link-local or reserved address` };
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** What a webhook URL must be, whatever it resolves to: https in production (http also outside it), no credentials in it. */
export function urlProblem(text: string, rule: AddressRule): string | undefined {
  const url = URL.parse(text);
  if (!url) return 'must be an absolute URL';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && !rule.production)) return rule.production ? 'must be an https URL' : 'must be an http or https URL';
  if (url.username || url.password) return 'must not hold a user name or password';
  if (url.hash) return 'must not have a fragment';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (rule.production && net.isIP(host) && !isPublicAddress(host)) return 'must not be a private, loopback, link-local or reserved address';
  if (rule.production && /^(localhost|.*\.localhost|.*\.local|.*\.internal)$/i.test(host)) return 'must be a public host name';
  return undefined;
}
