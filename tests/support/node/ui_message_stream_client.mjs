// Reads an AI SDK 5+ UI message stream with the current `ai` package's own parsers.
// Usage: node ui_message_stream_client.mjs URL  (JSON request body on stdin); prints one JSON result.
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from "ai";
import { postStdinBody } from "./post.mjs";

const response = await postStdinBody();
const result = {
  status: response.status,
  headers: {
    "content-type": response.headers.get("content-type"),
    "x-vercel-ai-ui-message-stream": response.headers.get("x-vercel-ai-ui-message-stream"),
  },
  chunks: [],
  invalidChunks: [],
  errors: [],
  message: null,
  thrown: null,
};
if (response.status !== 200) {
  result.body = await response.text();
} else {
  try {
    const chunks = parseJsonEventStream({ stream: response.body, schema: uiMessageChunkSchema })
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
    // Every error reaches onError: an `error` chunk the server sent on purpose, and any
    // protocol violation the client found (a delta without its start, an unknown tool call).
    const messages = readUIMessageStream({
      stream: chunks,
      onError: (error) => { result.errors.push(String(error?.message ?? error)); },
    });
    for await (const message of messages) {
      result.message = message;
    }
  } catch (error) {
    result.thrown = String(error?.message ?? error);
  }
}
process.stdout.write(JSON.stringify(result));
