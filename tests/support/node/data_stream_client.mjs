// Reads an AI SDK 4 data stream with ai@4's own parser, as a stock useChat would.
// Usage: node data_stream_client.mjs URL  (JSON request body on stdin); prints one JSON result.
import { parseDataStreamPart, processDataStream } from "ai4";
import { postStdinBody } from "./post.mjs";

const response = await postStdinBody();
const result = {
  status: response.status,
  headers: {
    "content-type": response.headers.get("content-type"),
    "x-vercel-ai-data-stream": response.headers.get("x-vercel-ai-data-stream"),
  },
  parts: [],
  text: "",
  toolCalls: [],
  toolResults: [],
  errors: [],
  finishMessage: null,
  finishSteps: [],
  startSteps: [],
  thrown: null,
};
if (response.status !== 200) {
  result.body = await response.text();
} else {
  const [forParts, forProcess] = response.body.tee();
  try {
    // Every line must parse on its own with the strict part parser...
    const raw = await new Response(forParts).text();
    for (const line of raw.split("\n").filter(Boolean)) {
      result.parts.push(parseDataStreamPart(line));
    }
    // ...and the stream as a whole through the processor useChat uses.
    await processDataStream({
      stream: forProcess,
      onTextPart: (text) => { result.text += text; },
      onToolCallPart: (call) => { result.toolCalls.push(call); },
      onToolResultPart: (toolResult) => { result.toolResults.push(toolResult); },
      onErrorPart: (error) => { result.errors.push(error); },
      onFinishMessagePart: (finish) => { result.finishMessage = finish; },
      onFinishStepPart: (step) => { result.finishSteps.push(step); },
      onStartStepPart: (step) => { result.startSteps.push(step); },
    });
  } catch (error) {
    result.thrown = String(error?.message ?? error);
  }
}
process.stdout.write(JSON.stringify(result));
