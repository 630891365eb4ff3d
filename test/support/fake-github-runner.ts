import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the fake runner answered: whether its request token and path were right, and the audience asked. */
export interface RunnerCall {
  readonly authorized: boolean;
  readonly audience: string | null;
}

export interface FakeGithubRunner {
  /** ACTIONS_ID_TOKEN_REQUEST_URL, as the runner sets it. */
  readonly requestUrl: string;
  readonly calls: readonly RunnerCall[];
  close(): void;
}

/**
 * A GitHub Actions runner's OIDC token endpoint on 127.0.0.1: `GET /_apis/token?api-version=2.0&audience=…`
 * with `Authorization: bearer <requestToken>` answers `{ count, value }`, `value` minted by `mint`
 * for the audience asked; anything else is a 401, as the runner answers a job without
 * `permissions: id-token: write`.
 */
export async function startFakeGithubRunner(requestToken: string, mint: (audience: string) => Promise<string>): Promise<FakeGithubRunner> {
  const calls: RunnerCall[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://runner.invalid");
      const authorized = req.headers.authorization === `bearer ${requestToken}` && url.pathname === "/_apis/token" && url.searchParams.get("api-version") === "2.0";
      const audience = url.searchParams.get("audience");
      calls.push({ authorized, audience });
      if (!authorized || audience === null) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"message":"unauthorized"}');
        return;
      }
      const value = await mint(audience);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ count: value.length, value }));
    })();
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return { requestUrl: `http://127.0.0.1:${port}/_apis/token?api-version=2.0`, calls, close: () => server.close() };
}
