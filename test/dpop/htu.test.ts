/**
 * `htu` comparison (RFC 9449 §4.3 check 9): only absolute RFC 3986 URIs (Appendix A grammar) are
 * compared, after RFC 3986 §6.2 normalisation only. Strings the WHATWG URL parser would repair into
 * the token endpoint's URL must not match it (issue 11, finding 7).
 */
import { describe, expect, it } from "vitest";
import { MAX_HTU_LENGTH, normalizeHttpUri } from "../../src/dpop/htu.js";

const TOKEN_URL = "http://127.0.0.1:8080/token";

describe("normalizeHttpUri: RFC 3986 §6.2 normalisation", () => {
  it.each([
    ["itself", TOKEN_URL],
    ["the scheme's case", "HTTP://127.0.0.1:8080/token"],
    ["a query", `${TOKEN_URL}?a=1&b=/?`],
    ["a fragment", `${TOKEN_URL}#frag`],
    ["a percent-encoded unreserved character, lower-case hex", "http://127.0.0.1:8080/%74oken"],
    ["dot segments", "http://127.0.0.1:8080/a/b/../../token"],
    ["a dot segment spelled with percent-encodings", "http://127.0.0.1:8080/a/%2e%2E/token"],
    ["a single-dot segment", "http://127.0.0.1:8080/./token"],
  ])("maps %s to the token endpoint", (_what, text) => {
    expect(normalizeHttpUri(text)).toBe(TOKEN_URL);
  });

  it("lowercases a registered name, uppercases percent-encodings it keeps, drops default and empty ports, and makes an empty path /", () => {
    expect(normalizeHttpUri("HTTPS://Broker.Example.COM:443")).toBe("https://broker.example.com/");
    expect(normalizeHttpUri("https://broker.example.com:/token")).toBe("https://broker.example.com/token");
    expect(normalizeHttpUri("http://broker.example.com:80/a%2fb")).toBe("http://broker.example.com/a%2Fb");
    expect(normalizeHttpUri("http://br%6Fker.example.com/")).toBe("http://broker.example.com/");
    expect(normalizeHttpUri("https://[2001:DB8::1]:8443/token")).toBe("https://[2001:db8::1]:8443/token");
  });

  it("keeps what RFC 3986 §6.2 keeps: a trailing slash, the path's case, a non-default port, the scheme", () => {
    expect(normalizeHttpUri(`${TOKEN_URL}/`)).toBe(`${TOKEN_URL}/`);
    expect(normalizeHttpUri("http://127.0.0.1:8080/Token")).toBe("http://127.0.0.1:8080/Token");
    expect(normalizeHttpUri("https://broker.example.com:80/")).toBe("https://broker.example.com:80/");
  });
});

describe("normalizeHttpUri: not an absolute RFC 3986 http(s) URI", () => {
  it.each([
    ["no authority (http:host/path)", "http:127.0.0.1:8080/token"],
    ["one slash", "http:/127.0.0.1:8080/token"],
    ["backslashes for slashes", "http:\\\\127.0.0.1:8080\\token"],
    ["a backslash in the path", "http://127.0.0.1:8080\\token"],
    ["a leading space", ` ${TOKEN_URL}`],
    ["a trailing space", `${TOKEN_URL} `],
    ["a trailing newline", `${TOKEN_URL}\n`],
    ["a tab inside", "http://127.0.0.1:8080/to\tken"],
    ["a space in the path", "http://127.0.0.1:8080/to ken"],
    ["a non-ASCII character", "http://127.0.0.1:8080/tökén"],
    ["a bad percent-encoding", "http://127.0.0.1:8080/%7token"],
    ["a decimal IPv4 host", "http://2130706433:8080/token"],
    ["a hex IPv4 host", "http://0x7f.1:8080/token"],
    ["a hex IPv4 host, four parts", "http://0x7f.0x0.0x0.0x1:8080/token"],
    ["an octal IPv4 host", "http://0177.0.0.1:8080/token"],
    ["a short dotted IPv4 host", "http://127.1:8080/token"],
    ["an IPv4 octet over 255", "http://127.0.0.256:8080/token"],
    ["an empty host", "http://:8080/token"],
    ["user information", "http://user@127.0.0.1:8080/token"],
    ["a port with a leading zero", "http://127.0.0.1:08080/token"],
    ["a port over 65535", "http://127.0.0.1:808080/token"],
    ["a port that is not a number", "http://127.0.0.1:80a/token"],
    ["an IPv6 zone identifier", "http://[fe80::1%25eth0]:8080/token"],
    ["an IPvFuture literal", "http://[v1.fe80::a+en1]/token"],
    ["an unclosed IP literal", "http://[::1/token"],
    ["another scheme", "ftp://127.0.0.1:8080/token"],
    ["a relative reference", "/token"],
    ["an empty string", ""],
    ["junk", "::::"],
  ])("refuses %s", (_what, text) => {
    expect(normalizeHttpUri(text)).toBeUndefined();
  });

  it("refuses a URI past the length cap without parsing it", () => {
    expect(normalizeHttpUri(`http://127.0.0.1/${"a".repeat(MAX_HTU_LENGTH)}`)).toBeUndefined();
  });
});
