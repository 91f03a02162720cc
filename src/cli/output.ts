import { stripVTControlCharacters } from "node:util";
import { redactKnown, registerSecret } from "../config/redact.ts";

/**
 * Where a CLI's words go: progress and errors to stderr, data to stdout. Colour only on a
 * terminal and never under NO_COLOR. Every line passes through redact() with the known secrets.
 */
/** Registers values (passwords) that must never be printed, in any of their forms (redact.ts). */
export const addSecret = registerSecret;

function colourOn(stream: NodeJS.WriteStream): boolean {
  return !process.env.NO_COLOR && Boolean(stream.isTTY);
}

function paint(stream: NodeJS.WriteStream, code: number, text: string): string {
  return colourOn(stream) ? `\x1b[${code}m${text}\x1b[0m` : text;
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
    write(process.stderr, paint(process.stderr, 2, text));
  },
  success(text: string): void {
    write(process.stderr, paint(process.stderr, 32, text));
  },
  warn(text: string): void {
    write(process.stderr, paint(process.stderr, 33, `warning: ${text}`));
  },
  error(text: string): void {
    write(process.stderr, paint(process.stderr, 31, `error: ${text}`));
  },
  /** Text written as is (usage screens), still redacted and colour-stripped off a terminal. */
  raw(stream: NodeJS.WriteStream, text: string): void {
    write(stream, text);
  },
};
