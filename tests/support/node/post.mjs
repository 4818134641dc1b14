// What both clients share: POST stdin's JSON body to the URL given on the command line.
export async function postStdinBody() {
  const body = await new Response(process.stdin).text();
  return fetch(process.argv[2], {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}
