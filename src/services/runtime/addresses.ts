import { BlockList, isIP } from 'node:net';

/**
 * IPv4 ranges that are not the public internet (IANA special-purpose registry): this host, private,
 * carrier-grade NAT, loopback, link-local (cloud metadata lives at 169.254.169.254), protocol
 * assignments, documentation, benchmarking, multicast, reserved and broadcast. A rule for IPv4 also
 * matches the IPv4-mapped IPv6 form (`::ffff:127.0.0.1`).
 */
const V4_NOT_PUBLIC: readonly (readonly [string, number])[] = [
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
];

/**
 * Inside global unicast (2000::/3), the ranges that are not a host on the public internet, or that
 * tunnel to an IPv4 address we would have to check again (Teredo, 6to4, NAT64 is outside 2000::/3).
 */
const V6_NOT_PUBLIC: readonly (readonly [string, number])[] = [
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['3fff::', 20],
];

const v4Blocked = new BlockList();
for (const [net, prefix] of V4_NOT_PUBLIC) v4Blocked.addSubnet(net, prefix, 'ipv4');
const v6Global = new BlockList();
v6Global.addSubnet('2000::', 3, 'ipv6');
const v6Blocked = new BlockList();
for (const [net, prefix] of V6_NOT_PUBLIC) v6Blocked.addSubnet(net, prefix, 'ipv6');

/** `[::1]` (a URL's hostname) or `::1` -> `::1`. */
export function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Whether an IP address is a host on the public internet; anything unparseable is not. */
export function isPublicAddress(address: string): boolean {
  const ip = bareHost(address);
  const family = isIP(ip);
  if (family === 4) return !v4Blocked.check(ip, 'ipv4');
  if (family !== 6) return false;
  // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address itself.
  if (v4Blocked.check(ip, 'ipv6')) return false;
  if (/^::ffff:/i.test(ip)) return true;
  return v6Global.check(ip, 'ipv6') && !v6Blocked.check(ip, 'ipv6');
}
