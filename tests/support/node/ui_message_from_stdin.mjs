// Reads AI SDK 5+ UI message stream bytes (SSE) from stdin with the current `ai` package's own
// parsers, the same way ui_message_stream_client.mjs reads them over HTTP.
// Usage: node ui_message_from_stdin.mjs < stream.sse ; prints one JSON result.
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from "ai";

const pieces = [];
for await (const piece of process.stdin) pieces.push(piece);
const body = new Blob(pieces).stream();

const result = { chunks: [], invalidChunks: [], errors: [], messages: 0, message: null, thrown: null };
try {
  const chunks = parseJsonEventStream({ stream: body, schema: uiMessageChunkSchema })
    .pipeThrough(new TransformStream({
      transform(parsed, controller) {
        if (parsed.success) {
          result.chunks.push(parsed.value);
          controller.enqueue(parsed.value);
        } else {
          result.invalidChunks.push(String(parsed.error?.message ?? parsed.error));
        }
      },
    }));
  // `error` chunks and protocol violations (a result for an unknown tool call) both land here.
  const messages = readUIMessageStream({
    stream: chunks,
    onError: (error) => { result.errors.push(String(error?.message ?? error)); },
  });
  for await (const message of messages) {
    result.messages += 1;
    result.message = message;
  }
} catch (error) {
  result.thrown = String(error?.message ?? error);
}
// JSON.stringify drops the keys the SDK set to undefined, as storing the message would.
process.stdout.write(JSON.stringify(result));
