/**
 * `sockmodels client echo|chat|omok`: interactive clients. Each line typed is sent to the
 * server; what the server sends is printed (for omok, the board is drawn again).
 *
 * @module
 */

import { CHAT_FRAMINGS, chatCodec, type ChatFraming } from "../apps/chat/chat_server.ts";
import { ECHO_FRAMINGS, echoCodec, type EchoFraming } from "../apps/echo.ts";
import { encodeFrames } from "../framing/write_frame.ts";
import { delimited } from "../framing/mod.ts";
import type { FrameCodec } from "../framing/types.ts";
import { formatHostPort } from "../runtime/errors.ts";
import { defaultTransport } from "../runtime/detect.ts";
import type { Stream, TlsClientOptions } from "../runtime/types.ts";
import { readTextFile } from "../platform/process.ts";
import { alpnList, choiceValue, type OptionDefinition } from "./arguments.ts";
import { parseSubcommand, type Subcommand, type SubcommandGroup, subcommandUsage } from "./subcommands.ts";
import type { CliIo } from "./cli_io.ts";
import { OmokView } from "./omok_view.ts";

const COMMON: Record<string, OptionDefinition> = {
  host: { type: "string", value: "HOST", default: "127.0.0.1", help: "the server's address" },
  port: { type: "string", value: "PORT", default: "9000", help: "the server's port" },
  json: { type: "boolean", help: "print one JSON object per line: each message received, and how it ended" },
  tls: { type: "boolean", help: "connect with TLS, verifying the server's certificate" },
  "tls-ca": { type: "string", value: "FILE", help: "trust the CAs in this PEM file instead of the system's" },
  "tls-server-name": { type: "string", value: "NAME", help: "the name to verify and send as SNI (default: HOST)" },
  "tls-insecure": { type: "boolean", help: "with --tls, skip verifying the server's certificate (tests only)" },
  "tls-alpn": {
    type: "string",
    value: "LIST",
    help: "the ALPN protocols to ask for, comma-separated, preferred first",
  },
  help: { type: "boolean", short: "h", help: "show this help" },
};

const CLIENTS: Record<string, Subcommand> = {
  echo: {
    options: {
      ...COMMON,
      framing: { type: "string", value: ECHO_FRAMINGS.join("|"), default: "raw", help: "how each line is framed" },
    },
    about: "Sends each line you type (framed as the server expects) and prints every reply.\n" +
      "When input ends, it waits for the last replies, then closes.",
  },
  chat: {
    options: {
      ...COMMON,
      framing: { type: "string", value: CHAT_FRAMINGS.join("|"), default: "lines", help: "the server's framing" },
    },
    about: "Sends each line you type to the chat and prints what the room says.\n" +
      "Commands: /nick NAME, /join ROOM, /who, /quit.",
  },
  omok: {
    options: {
      ...COMMON,
      resume: { type: "string", value: "TOKEN", help: "take back a seat you lost, with the token you were given" },
    },
    about: "Plays omok: the board is drawn after every move; type a point such as h8 to play.\n" +
      "Other commands: BOARD, HELP, QUIT.",
  },
};

const CLIENT: SubcommandGroup = { group: "client", noun: "client", needs: "a kind", kinds: CLIENTS };

/**
 * The usage of `sockmodels client`, or of one client.
 *
 * @example
 * ```ts
 * console.log(clientUsage("omok"));
 * ```
 */
export function clientUsage(client?: string): string {
  return subcommandUsage(CLIENT, client);
}

const encoder = new TextEncoder();

/** A connected client: what arrives is decoded into messages for `onMessage`. */
interface Session {
  stream: Stream;
  send(text: string): void;
  /** Bytes received and sent so far. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Resolves once the connection closed, with the error if it failed. */
  closed: Promise<Error | undefined>;
}

async function connect(
  host: string,
  port: number,
  codec: FrameCodec | undefined,
  onMessage: (text: string) => void,
  tls: TlsClientOptions | undefined,
): Promise<Session> {
  const transport = await defaultTransport();
  const stream = await transport.connect({ hostname: host, port, timeoutMs: 5000, tls });
  const decoder = codec?.decoder();
  const text = new TextDecoder();
  let done!: (error: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (done = resolve));
  let bytesIn = 0;
  let bytesOut = 0;
  stream.setHandlers({
    onData(chunk) {
      bytesIn += chunk.byteLength;
      if (!decoder) return onMessage(text.decode(chunk, { stream: true }));
      try {
        for (const frame of decoder.push(chunk)) onMessage(text.decode(frame));
      } catch (error) {
        done(error as Error);
        stream.reset();
      }
    },
    onClose: (error) => done(error),
  });
  return {
    stream,
    closed,
    get bytesIn() {
      return bytesIn;
    },
    get bytesOut() {
      return bytesOut;
    },
    send(line) {
      if (stream.closed) return;
      const wire = codec ? encodeFrames(codec, [encoder.encode(line)]) : encoder.encode(line + "\n");
      bytesOut += wire.byteLength;
      stream.write(wire);
    },
  };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs `sockmodels client …` until input ends or the server closes; returns the exit code.
 *
 * @example
 * ```ts
 * import { processIo } from "./cli_io.ts";
 * const code = await runClient(["chat", "--port", "9000"], processIo());
 * ```
 */
export async function runClient(args: string[], io: CliIo): Promise<number> {
  const parsed = parseSubcommand(CLIENT, args);
  if (typeof parsed === "string") {
    io.stdout(parsed + "\n");
    return 0;
  }
  const { name: client, command, values, host, port } = parsed;
  let codec: FrameCodec | undefined;
  if (client === "echo") {
    codec = echoCodec(choiceValue(values.framing as string, ECHO_FRAMINGS, "Framing", command) as EchoFraming);
  } else if (client === "chat") {
    codec = chatCodec(choiceValue(values.framing as string, CHAT_FRAMINGS, "Framing", command) as ChatFraming);
  } else {
    codec = delimited({ delimiter: "\n" });
  }

  const json = values.json === true;
  const report = (event: string, fields: Record<string, unknown>): void => {
    if (json) io.stdout(JSON.stringify({ event, ...fields }) + "\n");
  };
  let received = 0;
  const view = new OmokView();
  const draw = () => io.stdout((io.terminal ? "\x1b[H\x1b[2J" : "\n") + view.render() + "\n");
  const onMessage = (text: string): void => {
    received++;
    if (json) return report("message", { text });
    if (client !== "omok") {
      io.stdout(codec ? `${text}\n` : text);
      return;
    }
    if (view.apply(text)) draw();
  };
  let session: Session;
  try {
    const tlsWanted = values.tls === true || values["tls-insecure"] === true || values["tls-ca"] !== undefined ||
      values["tls-server-name"] !== undefined || values["tls-alpn"] !== undefined;
    const tls: TlsClientOptions | undefined = tlsWanted
      ? {
        ...(typeof values["tls-ca"] === "string" ? { ca: readTextFile(values["tls-ca"]) } : {}),
        ...(typeof values["tls-server-name"] === "string" ? { serverName: values["tls-server-name"] } : {}),
        ...(values["tls-insecure"] === true ? { insecure: true } : {}),
        ...(typeof values["tls-alpn"] === "string" ? { alpnProtocols: alpnList(values["tls-alpn"]) } : {}),
      }
      : undefined;
    session = await connect(host, port, codec, onMessage, tls);
  } catch (error) {
    io.stderr(`sockmodels: Cannot connect to ${formatHostPort(host, port)}: ${(error as Error).message}\n`);
    report("error", { message: `Cannot connect to ${formatHostPort(host, port)}: ${(error as Error).message}` });
    return 1;
  }
  report("connected", {
    host,
    port,
    ...(session.stream.tls
      ? { tls: session.stream.tls.protocol ?? "TLS", alpn: session.stream.tls.alpnProtocol ?? null }
      : {}),
  });
  if (client === "omok" && typeof values.resume === "string") session.send(`RESUME ${values.resume}`);

  let sent = 0;
  let inputEnded!: () => void;
  const ended = new Promise<void>((resolve) => (inputEnded = resolve));
  const stopReading = io.readLines((line) => {
    sent++;
    session.send(line);
  }, () => inputEnded());
  const first = await Promise.race([session.closed.then((e) => ({ closed: e })), ended.then(() => undefined)]);
  stopReading();
  if (first !== undefined) {
    if (first.closed) {
      io.stderr(`sockmodels: The connection failed: ${first.closed.message}\n`);
      report("error", { message: `The connection failed: ${first.closed.message}` });
      return 1;
    }
    io.stderr("Connection closed by the server\n");
    report("closed", { by: "server", sent, received });
    return 0;
  }
  // Input ended: collect the last replies, then close.
  if (client === "echo") {
    const deadline = Date.now() + 5000;
    const waiting = () => codec ? received < sent : session.bytesIn < session.bytesOut;
    while (waiting() && !session.stream.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  } else {
    session.send(client === "chat" ? "/quit" : "QUIT");
  }
  await within(session.stream.close(), 2000);
  session.stream.reset();
  report("closed", { by: "client", sent, received });
  return 0;
}
