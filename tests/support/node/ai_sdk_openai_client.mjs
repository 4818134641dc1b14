// The AI SDK's OpenAI provider (@ai-sdk/openai, default model form: provider("chat-model"),
// which speaks OpenAI's Responses API) against the gateway's /v1.
// Usage: node ai_sdk_openai_client.mjs BASE_URL  (JSON options on stdin); prints one JSON result.
// Options: {mode: "streamText" | "generateText" | "generateObject" | "conversation" | "tools",
//           prompt, system?, apiKey?}. Every request's path is recorded, to show which API
// the provider called.
import { createOpenAI } from "@ai-sdk/openai";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const options = JSON.parse(await new Response(process.stdin).text());
const paths = [];
const provider = createOpenAI({
  baseURL: process.argv[2],
  apiKey: options.apiKey ?? "unused",
  fetch: (url, init) => {
    paths.push(new URL(url).pathname);
    return fetch(url, init);
  },
});
const model = provider("chat-model");
const result = { mode: options.mode, paths, thrown: null };

try {
  if (options.mode === "streamText") {
    const errors = [];
    const stream = streamText({
      model,
      prompt: options.prompt,
      system: options.system,
      onError: ({ error }) => errors.push(String(error?.message ?? error)),
    });
    result.parts = [];
    for await (const part of stream.fullStream) {
      result.parts.push(part.type === "error" ? { type: "error", error: String(part.error?.message ?? part.error) } : { type: part.type });
    }
    result.text = await stream.text;
    result.reasoningText = (await stream.reasoningText) ?? null;
    result.finishReason = await stream.finishReason;
    result.usage = await stream.usage;
    result.responseId = (await stream.response).id;
    result.errors = errors;
  } else if (options.mode === "generateText") {
    const answer = await generateText({ model, prompt: options.prompt, system: options.system });
    result.text = answer.text;
    result.finishReason = answer.finishReason;
    result.usage = answer.usage;
    result.responseId = answer.response.id;
  } else if (options.mode === "generateObject") {
    const answer = await generateObject({
      model,
      prompt: options.prompt,
      schema: z.object({ name: z.string(), age: z.number() }),
    });
    result.object = answer.object;
    result.finishReason = answer.finishReason;
  } else if (options.mode === "conversation") {
    // A second turn from the first one's response messages, as a chat app sends it: the SDK
    // names the stored assistant text by `item_reference` (store is on by default).
    const messages = [{ role: "user", content: options.prompt }];
    const first = await generateText({ model, messages });
    messages.push(...first.response.messages, { role: "user", content: "And again?" });
    const second = await generateText({ model, messages });
    result.texts = [first.text, second.text];
  } else if (options.mode === "tools") {
    // The client runs its tool (execute) and sends the result back: a second step.
    const answer = await generateText({
      model,
      prompt: options.prompt,
      stopWhen: stepCountIs(2),
      tools: {
        weather: tool({
          description: "The weather in a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => ({ city, sky: "sunny" }),
        }),
      },
    });
    result.text = answer.text;
    result.steps = answer.steps.map((step) => ({
      finishReason: step.finishReason,
      toolCalls: step.toolCalls.map((call) => ({ toolName: call.toolName, input: call.input })),
    }));
  } else {
    throw new Error(`unknown mode ${options.mode}`);
  }
} catch (error) {
  result.thrown = String(error?.message ?? error);
}
process.stdout.write(JSON.stringify(result));
