// A chat client as the AI SDK's resume-streams recipe builds it: ai@6's own DefaultChatTransport.
// Usage: node chat_transport_client.mjs GATEWAY_URL  (JSON options on stdin); prints one JSON result.
//
// Options: {mode: "send" | "reconnect", chatId, apiKey?, progress?,
//           send: message (a user UI message), messages? (the client's whole history, ending with
//                 `message`; only its last goes on the wire), abortAfterChunks? (abort the request
//                 after N chunks: a client that goes away)}.
// Result: {mode, status: "finished" | "ended" | "aborted" | "null" | "thrown", chunks, errors,
//          message (what readUIMessageStream built last), thrown}.
// With `progress`, each chunk's type is written to stderr as it arrives (one line each), so a
// test can act once a reader is following.
import { DefaultChatTransport, readUIMessageStream } from "ai6";

const gateway = process.argv[2].replace(/\/$/, "");
const options = JSON.parse(await new Response(process.stdin).text());

const transport = new DefaultChatTransport({
  // POST's default protocol is another format: the UI message stream must be asked for. The
  // transport keeps this query when it builds the reconnect URL, {api path}/{id}/stream?...
  api: `${gateway}/api/chat?protocol=ui-message-stream`,
  headers: options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {},
  // The recipe: send the chat id and only the newest message; the server keeps the history.
  prepareSendMessagesRequest: ({ id, messages }) => ({
    body: {
      id,
      message: messages.at(-1),
      selectedChatModel: "chat-model",
      selectedVisibilityType: "private",
    },
  }),
});

const result = {
  mode: options.mode,
  status: null,
  chunks: [],
  errors: [],
  message: null,
  thrown: null,
};
const abort = new AbortController();
let aborted = false;

// Records every chunk the transport parsed; aborts the request after `abortAfterChunks`.
function watch(stream) {
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        result.chunks.push(chunk);
        if (options.progress) process.stderr.write(`chunk ${chunk.type}\n`);
        controller.enqueue(chunk);
        if (options.abortAfterChunks && result.chunks.length >= options.abortAfterChunks) {
          aborted = true;
          abort.abort();
        }
      },
    }),
  );
}

try {
  let stream;
  if (options.mode === "send") {
    stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: options.chatId,
      messageId: undefined,
      messages: options.messages ?? [options.message],
      abortSignal: abort.signal,
    });
  } else if (options.mode === "reconnect") {
    stream = await transport.reconnectToStream({ chatId: options.chatId });
  } else {
    throw new Error(`unknown mode ${options.mode}`);
  }
  if (stream === null) {
    result.status = "null"; // 204: no answer in progress
  } else {
    const messages = readUIMessageStream({
      stream: watch(stream),
      // `error` chunks, protocol violations, and the AbortError of an aborted request.
      onError: (error) => { result.errors.push(String(error?.message ?? error)); },
    });
    for await (const message of messages) {
      result.message = message;
    }
    const finished = result.chunks.some((chunk) => chunk.type === "finish");
    result.status = aborted ? "aborted" : finished ? "finished" : "ended";
  }
} catch (error) {
  result.status = aborted ? "aborted" : "thrown";
  result.thrown = String(error?.message ?? error);
}
// JSON.stringify drops the keys the SDK set to undefined, as storing the message would.
// An aborted request may leave a pooled socket open: exit once written instead of waiting.
process.stdout.write(JSON.stringify(result), () => process.exit(0));
