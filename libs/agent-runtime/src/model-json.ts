/** A model's JSON answer, tolerating a markdown code fence around it; undefined when it is not JSON. */
export function parseModelJson(text: string): unknown {
  const unfenced = text.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/i, '$1');
  try {
    return JSON.parse(unfenced);
  } catch {
    return undefined;
  }
}
