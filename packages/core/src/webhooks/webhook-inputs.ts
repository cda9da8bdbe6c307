import { z } from "zod";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { hasControlCharacters } from "../validation/operation-inputs.js";
import { WEBHOOK_EVENT_TYPES } from "./webhook-event-types.js";

export const MAX_WEBHOOK_URL_LENGTH = 2048;
export const MAX_WEBHOOK_EVENTS = 32;
/** Endpoints per database: each one is a request per event, so they are bounded. */
export const MAX_WEBHOOK_ENDPOINTS = 100;

/**
 * An endpoint's URL, checked before anything is stored: http or https only, at most 2,048
 * characters, a host, no user name or password (they would be stored and listed in the
 * clear, and sent to whoever the URL names), no fragment (never sent), and no whitespace
 * or control characters (WHATWG URL parsing silently drops tabs and newlines, so the URL
 * stored would differ from the one typed).
 */
export function parseWebhookUrl(text: unknown): string {
  if (typeof text !== "string") throw invalid("url must be a string");
  if (text.length === 0) throw invalid("url must not be empty");
  if (text.length > MAX_WEBHOOK_URL_LENGTH) {
    throw invalid(`url must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  }
  if (hasControlCharacters(text) || /\s/.test(text)) {
    throw invalid("url must not contain spaces or control characters");
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid("url must be an absolute http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid("url must use http:// or https://");
  }
  if (url.hostname === "") throw invalid("url must name a host");
  if (url.username !== "" || url.password !== "") {
    throw invalid("url must not contain a user name or password");
  }
  if (text.includes("#")) throw invalid("url must not contain a fragment (#...)");
  const normalised = url.href;
  if (normalised.length > MAX_WEBHOOK_URL_LENGTH) {
    throw invalid(`url must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  }
  return normalised;
}

const eventsSchema = z
  .array(z.string({ error: "events must be a list of event names" }), {
    error: "events must be a list of event names",
  })
  .min(1, "events must name at least one event (or *)")
  .max(MAX_WEBHOOK_EVENTS, `events must name at most ${MAX_WEBHOOK_EVENTS} events`);

/** The event names an endpoint subscribes to: known ones or `*`, each once, in order. */
export function parseWebhookEvents(value: unknown): string[] {
  const parsed = eventsSchema.safeParse(value);
  if (!parsed.success) throw invalid(parsed.error.issues[0]?.message ?? "events is invalid");
  const events: string[] = [];
  for (const name of parsed.data) {
    if (name !== "*" && !WEBHOOK_EVENT_TYPES.includes(name)) {
      const shown = name.length > 40 || hasControlCharacters(name) ? "(an unknown name)" : name;
      throw invalid(
        `events: ${shown} is not an event KeyGuard sends; use * or one of ${WEBHOOK_EVENT_TYPES.join(", ")}`,
      );
    }
    if (!events.includes(name)) events.push(name);
  }
  return events;
}

function invalid(message: string): KeyGuardError {
  const field = message.startsWith("events") ? "events" : "url";
  return new KeyGuardError("invalid_input", message, { details: { field } });
}
