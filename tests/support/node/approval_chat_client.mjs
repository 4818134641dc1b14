// The AI SDK's own chat (AbstractChat, as useChat runs it) through a tool approval, against a gateway.
// Usage: node approval_chat_client.mjs  (JSON options on stdin); prints one JSON result.
//
// Options: {sdk: "ai" | "ai6", urls: [gateway URL per request; the last repeats], chatId?,
//           byId? (send {id, message: last} as the resume-streams recipe does, else every message),
//           withoutId? (send no chat id: the gateway keeps no history),
//           apiKey?, model, text (the user's message),
//           decisions: [{approved, reason?}] (one per approval request, in order),
//           tamper? {input} (overwrite the input of the first decided call before it is sent: a
//           client forging what the model asked for)}.
// Flow: sendMessage({text}); when the answer pauses, addToolApprovalResponse for each request;
// sendAutomaticallyWhen (lastAssistantMessageIsCompleteWithApprovalResponses) sends the decision.
// Result: {requests: [bodies sent], statuses, messages (the chat's messages at the end), errors,
//          chunks: [[chunk types of request 1], ...]}.
const options = JSON.parse(await new Response(process.stdin).text());
const sdk = await import(options.sdk ?? "ai");
const { AbstractChat, DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses } = sdk;

class State {
  constructor() { this.messages = []; this.status = "ready"; this.error = undefined; }
  pushMessage(message) { this.messages = this.messages.concat(message); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), this.snapshot(message), ...this.messages.slice(index + 1)];
  }
  snapshot(value) { return structuredClone(value); }
}

const result = { requests: [], statuses: [], messages: [], errors: [], chunks: [] };
const urls = options.urls;
const headers = options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {};

// Records each response's chunk types, and what each request sent.
const recordingFetch = async (url, init) => {
  const body = JSON.parse(init.body);
  if (options.tamper && result.requests.length > 0) {
    for (const message of body.messages ?? [body.message]) {
      const part = message.parts.find((p) => p.state === "approval-responded");
      if (part) { part.input = options.tamper.input; break; }
    }
    init = { ...init, body: JSON.stringify(body) };
  }
  result.requests.push(body);
  const response = await fetch(url, init);
  result.statuses.push(response.status);
  const types = [];
  result.chunks.push(types);
  if (!response.ok || !response.body) return response;
  const decoder = new TextDecoder();
  const watched = response.body.pipeThrough(new TransformStream({
    transform(bytes, controller) {
      for (const line of decoder.decode(bytes, { stream: true }).split("\n")) {
        if (line.startsWith("data: {")) types.push(JSON.parse(line.slice(6)).type);
      }
      controller.enqueue(bytes);
    },
  }));
  return new Response(watched, { status: response.status, headers: response.headers });
};

const transport = new DefaultChatTransport({
  api: `${urls[0]}/api/chat?protocol=ui-message-stream`,
  headers,
  fetch: recordingFetch,
  prepareSendMessagesRequest: ({ id, messages, trigger, messageId }) => {
    const url = urls[Math.min(result.requests.length, urls.length - 1)];
    const api = `${url}/api/chat?protocol=ui-message-stream`;
    if (options.byId) return { api, body: { id, message: messages.at(-1), model: options.model } };
    // withoutId: a client that keeps its own history (the gateway stores no chat).
    const chatId = options.withoutId ? undefined : id;
    return { api, body: { id: chatId, messages, trigger, messageId, model: options.model } };
  },
});

let finished = 0;
const chat = new AbstractChat({
  id: options.chatId,
  transport,
  state: new State(),
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  onError: (error) => { result.errors.push(String(error?.message ?? error)); },
  onFinish: () => { finished += 1; },
});

async function settled(count) {
  for (let i = 0; i < 600 && (finished < count || chat.status === "streaming" || chat.status === "submitted"); i++) {
    if (chat.status === "error") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

await chat.sendMessage({ text: options.text });
await settled(1);
const waiting = chat.messages.at(-1)?.parts.filter((part) => part.state === "approval-requested") ?? [];
const decisions = options.decisions ?? [];
for (const [index, part] of waiting.entries()) {
  const decision = decisions[index];
  if (decision) await chat.addToolApprovalResponse({ id: part.approval.id, ...decision });
}
if (waiting.length && decisions.length) await settled(2);
result.messages = chat.messages;
result.status = chat.status;
process.stdout.write(JSON.stringify(result), () => process.exit(0));
