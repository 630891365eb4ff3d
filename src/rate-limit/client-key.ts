import { isIPv4, isIPv6 } from "node:net";

/**
 * The budget a client address is charged to. IPv4: the address. IPv6: its /64 prefix, because
 * one host or site usually holds a whole /64 (RFC 6177) and could otherwise take a fresh budget
 * for every address in it. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket
 * reports IPv4 clients) counts as the IPv4 address. Anything else (no socket) is used as given.
 */
export function clientBucket(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  const withoutZone = address.split("%")[0] ?? "";
  if (!isIPv6(withoutZone)) return address;
  return `${ipv6Groups(withoutZone).slice(0, 4).join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, lowercase hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const part = (text: string): string[] =>
    text === ""
      ? []
      : text.split(":").flatMap((group) => {
          if (!group.includes(".")) return [group];
          // A trailing dotted IPv4 part fills the last two groups.
          const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const front = part(head);
  const back = tail === undefined ? [] : part(tail);
  const groups = [...front, ...Array<string>(8 - front.length - back.length).fill("0"), ...back];
  return groups.map((group) => Number.parseInt(group, 16).toString(16));
}
