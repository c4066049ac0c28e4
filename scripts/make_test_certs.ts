/**
 * Writes the TLS test fixtures into `tests/fixtures/tls/` with `openssl`: a CA, and ECDSA
 * P-256 certificates signed by it for the cases the tests need. They are for tests only: their
 * keys are public.
 *
 * - `ca.pem`, `ca.key`: the test CA.
 * - `localhost.pem`, `localhost.key`: a server leaf for `localhost`, `127.0.0.1` and `::1`.
 * - `other_name.pem`, `other_name.key`: a server leaf for `other.example` only.
 * - `expired.pem`, `expired.key`: a leaf for the localhost names that expired in 2000.
 * - `self_signed.pem`, `self_signed.key`: a self-signed leaf for the localhost names.
 * - `client.pem`, `client.key`: a client certificate (`CN=test client`).
 *
 * Usage: deno run -A scripts/make_test_certs.ts [--out DIR]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";

const outIndex = process.argv.indexOf("--out");
const out = resolve(
  outIndex > 0 ? process.argv[outIndex + 1] : join(import.meta.dirname ?? ".", "..", "tests/fixtures/tls"),
);
const work = mkdtempSync(join(tmpdir(), "sockmodels-certs-"));
const LOCAL_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1";
/** Long enough that the fixtures outlive the project; the expired one has its own dates. */
const DAYS = "36500";

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: work, stdio: ["ignore", "ignore", "pipe"] });
}

function newKey(name: string): string {
  const path = join(out, `${name}.key`);
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path);
  return path;
}

/** Signs a leaf with the CA through `openssl ca`, the one command that takes explicit dates. */
function signLeaf(
  name: string,
  subject: string,
  extensions: string,
  dates: { start?: string; end?: string } = {},
): void {
  const key = newKey(name);
  const csr = join(work, `${name}.csr`);
  openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr);
  const extFile = join(work, `${name}.ext`);
  writeFileSync(extFile, `[leaf]\n${extensions}\n`);
  const dateArgs = dates.start && dates.end ? ["-startdate", dates.start, "-enddate", dates.end] : ["-days", DAYS];
  openssl(
    "ca",
    "-batch",
    "-config",
    join(work, "ca.cnf"),
    "-notext",
    "-md",
    "sha256",
    "-extfile",
    extFile,
    "-extensions",
    "leaf",
    ...dateArgs,
    "-in",
    csr,
    "-out",
    join(out, `${name}.pem`),
  );
}

try {
  mkdirSync(out, { recursive: true });
  const caKey = newKey("ca");
  openssl(
    "req",
    "-x509",
    "-new",
    "-key",
    caKey,
    "-subj",
    "/CN=sockmodels test CA",
    "-days",
    DAYS,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    join(out, "ca.pem"),
  );
  writeFileSync(join(work, "index.txt"), "");
  writeFileSync(
    join(work, "ca.cnf"),
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `dir = ${work}`,
      "database = $dir/index.txt",
      "new_certs_dir = $dir",
      `certificate = ${join(out, "ca.pem")}`,
      `private_key = ${caKey}`,
      "rand_serial = yes",
      "default_md = sha256",
      "policy = anything",
      "unique_subject = no",
      "copy_extensions = none",
      "[anything]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  const server = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth";
  signLeaf("localhost", "/CN=localhost", `${server}\nsubjectAltName=${LOCAL_NAMES}`);
  signLeaf("other_name", "/CN=other.example", `${server}\nsubjectAltName=DNS:other.example`);
  signLeaf("expired", "/CN=localhost", `${server}\nsubjectAltName=${LOCAL_NAMES}`, {
    start: "20000101000000Z",
    end: "20000102000000Z",
  });
  signLeaf(
    "client",
    "/CN=test client",
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth",
  );
  const selfKey = newKey("self_signed");
  openssl(
    "req",
    "-x509",
    "-new",
    "-key",
    selfKey,
    "-subj",
    "/CN=localhost",
    "-days",
    DAYS,
    "-addext",
    `subjectAltName=${LOCAL_NAMES}`,
    "-out",
    join(out, "self_signed.pem"),
  );
  writeFileSync(
    join(out, "README.md"),
    "# TLS test fixtures\n\nFor tests only: these keys are public. Written by `scripts/make_test_certs.ts`;\n" +
      "run it again to replace them.\n",
  );
  console.log(`wrote the TLS test fixtures to ${out}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
