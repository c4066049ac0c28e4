/**
 * `serve --metrics-port`: Prometheus text at /metrics, scraped with fetch during load and
 * after it; the counters match what the load client sent and received.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run_cli.ts";
import { defaultTransport } from "../../src/runtime/detect.ts";
import { testIo, waitFor } from "./_helpers.ts";
import { observe, sleep, within } from "../helpers/net.ts";

/** The samples of a text exposition, by name and labels as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("serve --metrics-port", () => {
  test("counters match the load client's own counts, scraped during and after the load", async () => {
    const io = testIo();
    const running = runCli(
      ["serve", "echo", "--framing", "lines", "--port", "0", "--metrics-port", "0", "--json", "--max-connections", "2"],
      io,
    );
    await waitFor(() => /"event":"metrics"/.test(io.out), `the metrics record; got ${io.out}${io.err}`);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(io.out)![1]);
    const metricsUrl = /metrics on (http:\/\/[^"]+\/metrics)/.exec(io.out)![1];
    const transport = await defaultTransport();

    const clients = await Promise.all([0, 1].map(() => transport.connect({ hostname: "127.0.0.1", port })));
    const sides = clients.map((c) => observe(c));
    const line = new TextEncoder().encode("0123456789abcdef\n");
    let sent = 0;
    let scrapedDuring: Map<string, number> | undefined;
    for (let round = 0; round < 4; round++) {
      for (const c of clients) {
        for (let i = 0; i < 50; i++) c.write(line);
        sent += 50;
      }
      if (round === 1) {
        const response = await fetch(metricsUrl);
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
        scrapedDuring = samples(await response.text());
      }
      await sleep(5);
    }
    await within(
      new Promise<void>((resolve) => {
        const wait = () => (sides.every((s) => s.bytes === 200 * line.byteLength) ? resolve() : setTimeout(wait, 5));
        wait();
      }),
      10_000,
      "every echo",
    );
    assert.ok(scrapedDuring!.get("sockmodels_frames_in_total")! <= sent);
    assert.equal(scrapedDuring!.get("sockmodels_connections"), 2);

    // A third client is over --max-connections 2: refused.
    try {
      const third = await transport.connect({ hostname: "127.0.0.1", port });
      await within(observe(third).closed, 10_000, "the refusal");
    } catch {
      // Refused before the connect finished.
    }
    await waitFor(() => /"event":"refused"/.test(io.out), "the refused record");

    const after = samples(await (await fetch(metricsUrl)).text());
    assert.equal(after.get("sockmodels_frames_in_total"), sent);
    assert.equal(after.get("sockmodels_frames_out_total"), sent);
    assert.equal(after.get("sockmodels_bytes_in_total"), sent * line.byteLength);
    assert.equal(after.get("sockmodels_bytes_out_total"), sent * line.byteLength);
    assert.equal(after.get("sockmodels_accepted_total"), 2);
    assert.equal(after.get("sockmodels_rejected_total"), 1);
    assert.equal(after.get("sockmodels_connections"), 2);
    assert.equal(after.get("sockmodels_queued_bytes"), 0);

    clients[0].reset();
    await waitFor(() => /"event":"close"/.test(io.out), "the close record");
    const errors = samples(await (await fetch(metricsUrl)).text());
    // A transport that cannot send an RST closes with a FIN, which is no error.
    const resets = transport.capabilities.reset ? 1 : undefined;
    assert.equal(errors.get('sockmodels_errors_total{code="ECONNRESET"}'), resets, JSON.stringify([...errors]));
    assert.equal(errors.get("sockmodels_connections"), 1);

    const missing = await fetch(metricsUrl.replace("/metrics", "/"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    clients[1].reset();
    io.stop();
    assert.equal(await within(running, 10_000, "the server to stop"), 0);
  });
});
