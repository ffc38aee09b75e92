// The text of a configuration file, parsed. The parsers' own messages quote the text around a fault
// (YAML a few lines with a caret, V8's JSON.parse some twenty characters and the token), and that
// text may be a secret written inline (radius.dynamic_authorization.nas[].secret): the error says
// where the fault is and what kind it is, never what is written there.
import { parse as parseYaml } from 'yaml';

/** Parses `text` as JSON or YAML; an error's message names the fault and its place only. */
export function parseConfigText(text: string, json: boolean): unknown {
  if (json) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(jsonFault((err as Error).message));
    }
  }
  try {
    return parseYaml(text, { prettyErrors: false });
  } catch (err) {
    const { message, pos } = err as Error & { pos?: [number, number] };
    const kind = yamlFault(message);
    throw new Error(pos ? `${kind} at ${lineColumn(text, pos[0])}` : kind);
  }
}

// "Unexpected token 'S', ..."secret":SuperSecre"... is not valid JSON" quotes the text; the other
// messages ("… in JSON at position 98", "Unexpected end of JSON input") only place the fault.
function jsonFault(message: string): string {
  return /^Unexpected token\b/.test(message) ? 'Unexpected token (a value that is not JSON: quote strings, no trailing commas or comments)' : message;
}

// YAML puts the text at fault after a colon ("Unresolved alias (…): <name>", "Block scalar header
// includes extra characters: |<text>") or at the end ("Invalid escape sequence \uXYZW", "Plain
// value cannot start with @"): an unquoted secret starting with `*` or `|` was printed whole.
function yamlFault(message: string): string {
  return (message.split(': ')[0] ?? message).replace(/^(Invalid escape sequence|Plain value cannot start with) .*$/s, '$1');
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}
