/**
 * A real SoftHSM2 token for tests: its own softhsm2.conf and token folder in a fresh temp dir,
 * initialised with `softhsm2-util --init-token --free`, so no test touches the machine's tokens.
 * SOFTHSM2_CONF is read by the library when it is initialised: a test passes {@link SoftHsmToken.env}
 * to the broker process it spawns, or sets it on its own process (useSoftHsmEnv) before opening a
 * token client in-process.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Debian package's module (softhsm2). */
export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE ?? "/usr/lib/softhsm/libsofthsm2.so";

export interface SoftHsmToken {
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
  readonly module: string;
  /** The temp dir: softhsm2.conf and tokens/. */
  readonly dir: string;
  /** The token objects' folder (remove it to make the token fail underneath a running broker). */
  readonly tokenDir: string;
  /** SOFTHSM2_CONF pointing at this token's configuration. */
  readonly env: Readonly<Record<string, string>>;
  /** The BROKER_PKCS11_* settings for a broker using this token (the PIN in a 0600 file). */
  readonly brokerEnv: Readonly<Record<string, string>>;
  /** Removes the temp dir. */
  remove(): void;
}

const created = new Set<string>();
let exitHookInstalled = false;

/** Initialises a new token in a temp dir; throws with install instructions when softhsm2 is missing. */
export function createSoftHsmToken(label = "broker-test"): SoftHsmToken {
  if (!existsSync(SOFTHSM_MODULE)) {
    throw new Error(`${SOFTHSM_MODULE} not found: the PKCS#11 tests need SoftHSM2 ('sudo apt-get install -y softhsm2')`);
  }
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "softhsm-"));
  created.add(dir);
  const tokenDir = join(dir, "tokens");
  mkdirSync(tokenDir, { mode: 0o700 });
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = "1234-test-pin";
  const soPin = "5678-test-so-pin";
  const env = { SOFTHSM2_CONF: conf };
  const init = spawnSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", soPin, "--pin", pin], {
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed (${init.status}): ${init.stderr || init.stdout || String(init.error)}`);
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 });
  return {
    label,
    pin,
    soPin,
    module: SOFTHSM_MODULE,
    dir,
    tokenDir,
    env,
    brokerEnv: { ...env, BROKER_SIGNING_KEYS: "pkcs11", BROKER_PKCS11_MODULE: SOFTHSM_MODULE, BROKER_PKCS11_TOKEN: label, BROKER_PKCS11_PIN_FILE: pinFile },
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      created.delete(dir);
    },
  };
}

/** Points this process's SoftHSM2 at `token` (before any token client in it initialises the library). */
export function useSoftHsmEnv(token: SoftHsmToken): void {
  process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const dir of created) rmSync(dir, { recursive: true, force: true });
  });
}
