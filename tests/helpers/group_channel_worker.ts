/**
 * A worker for the group channel tests. `talk N SIZE`: joins the channel, says it listens,
 * publishes N records with SIZE bytes of padding, and prints every record it receives.
 * `stall`: says it listens and never reads its channel.
 */
import process from "node:process";
import { groupWorker, joinGroupChannel } from "../../src/process_group/mod.ts";

const [mode = "talk", count = "100", size = "10"] = process.argv.slice(2);
const worker = groupWorker();
if (worker === undefined) throw new Error("Run this as a worker of a process group");
const print = (record: unknown) => process.stdout.write(JSON.stringify(record) + "\n");
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1000);
print({ event: "listening", port: 1 });
if (mode === "talk") {
  const channel = joinGroupChannel((data, from, seq) => print({ event: "got", seq, from, data }));
  const padding = "x".repeat(Number(size));
  for (let n = 0; n < Number(count); n++) channel.publish({ n, by: worker.id, padding });
}
