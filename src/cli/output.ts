import { stripVTControlCharacters, styleText } from "node:util";
import { redactKnown, registerSecret } from "../config/redact.ts";

/**
 * Where a CLI's words go: progress and errors to stderr, data to stdout. Colour by node:util.styleText:
 * on a terminal, never under NO_COLOR, off a terminal under FORCE_COLOR. Every line passes through
 * redact() with the known secrets.
 */
/** Registers values (passwords) that must never be printed, in any of their forms (redact.ts). */
export const addSecret = registerSecret;

/** Whether `stream` gets colour: styleText's own decision, so painting and stripping agree. */
function colourOn(stream: NodeJS.WriteStream): boolean {
  return styleText("red", "x", { stream }) !== "x";
}

type Style = Parameters<typeof styleText>[0];

/** node:util.styleText colours only on a terminal and honours NO_COLOR / FORCE_COLOR. */
function paint(stream: NodeJS.WriteStream, style: Style, text: string): string {
  return styleText(style, text, { stream });
}

function write(stream: NodeJS.WriteStream, text: string): void {
  const clean = redactKnown(text);
  stream.write(`${colourOn(stream) ? clean : stripVTControlCharacters(clean)}\n`);
}

export const out = {
  /** Data: what a script would parse. */
  data(text: string): void {
    write(process.stdout, text);
  },
  progress(text: string): void {
    write(process.stderr, paint(process.stderr, "dim", text));
  },
  success(text: string): void {
    write(process.stderr, paint(process.stderr, "green", text));
  },
  warn(text: string): void {
    write(process.stderr, paint(process.stderr, "yellow", `warning: ${text}`));
  },
  error(text: string): void {
    write(process.stderr, paint(process.stderr, "red", `error: ${text}`));
  },
  /** Text written as is (usage screens), still redacted and colour-stripped off a terminal. */
  raw(stream: NodeJS.WriteStream, text: string): void {
    write(stream, text);
  },
};
