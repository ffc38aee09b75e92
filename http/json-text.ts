// What JSON.parse does not tell about a text it accepted: a key given twice in one object (it keeps
// the last; RFC 8259 §4 leaves names that are not unique to each parser, so a proxy or an audit log
// in front may read the first), and which member a position in the text belongs to. Neither a reviver
// (it sees the merged object) nor a count of keys (a colon may sit in a string) can say. One pass:
// the text is known to be well-formed, so only strings need reading, and their ends are found by
// indexOf; every structural character is ASCII and outside them.

const BACKSLASH = 0x5c;

/** One open object (the keys given so far, the one being read) or array (the element's index). */
interface Level {
  keys: Set<string> | null;
  name: string | number;
}

/** Where a walk is: resumable, so a long text can be walked a stretch per turn of the event loop. */
interface WalkState {
  i: number;
  levels: Level[];
  keyNext: boolean;
}

/** Dotted path of the member being read, as validation names a field (`items.0.name`). */
const pathOf = (levels: Level[]) => levels.map((l) => String(l.name)).join('.');

/** The index of the quote closing the string opened at `open`. */
function stringEnd(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
    let slashes = 0;
    while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/**
 * Walks the strings of `text` (JSON that JSON.parse accepted), keys named as JSON.parse names them
 * (`"\u0061"` is `a`). `visit` gets each string's span, whether it is a key, whether that key was
 * given before in its object, and the levels it sits in; answering true stops the walk (and walk
 * answers true). With `w`, it goes on from where `w` is and stops at the first character from
 * `until` on that no string holds.
 */
function walk(
  text: string,
  visit: (start: number, end: number, key: boolean, repeated: boolean, levels: Level[]) => boolean,
  w: WalkState = { i: 0, levels: [], keyNext: false },
  until = text.length,
): boolean {
  const { levels } = w;
  let { i, keyNext } = w;
  for (; i < until; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const level = levels[levels.length - 1]!;
      let repeated = false;
      if (keyNext) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        repeated = level.keys!.has(name);
        level.keys!.add(name);
        level.name = name;
      }
      if (visit(i, end, keyNext, repeated, levels)) return true;
      keyNext = false;
      i = end;
    } else if (c === '{') {
      levels.push({ keys: new Set(), name: '' });
      keyNext = true;
    } else if (c === '[') {
      levels.push({ keys: null, name: 0 });
    } else if (c === '}' || c === ']') {
      levels.pop();
      keyNext = false;
    } else if (c === ',') {
      const level = levels[levels.length - 1]!;
      if (level.keys) keyNext = true;
      else level.name = (level.name as number) + 1;
    }
  }
  w.i = i;
  w.keyNext = keyNext;
  return false;
}

/** The dotted path of the first key given twice in one object of `text`, or null. */
export function repeatedKey(text: string): string | null {
  let found: string | null = null;
  walk(text, (_start, _end, key, repeated, levels) => {
    if (key && repeated) found = pathOf(levels);
    return found !== null;
  });
  return found;
}

/**
 * repeatedKey, `stretch` characters a turn of the event loop (a timer between: the walk of a 5.8 MB
 * import body was 64 ms in one turn, issue 10).
 */
export async function repeatedKeyInTurns(text: string, stretch = 1 << 20): Promise<string | null> {
  let found: string | null = null;
  const w: WalkState = { i: 0, levels: [], keyNext: false };
  const visit = (_start: number, _end: number, key: boolean, repeated: boolean, levels: Level[]) => {
    if (key && repeated) found = pathOf(levels);
    return found !== null;
  };
  while (w.i < text.length) {
    if (walk(text, visit, w, Math.min(text.length, w.i + stretch))) return found;
    if (w.i < text.length) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return found;
}

/** The dotted path of the member whose string value holds index `at` of `text`; null when a key or nothing does. */
export function memberAt(text: string, at: number): string | null {
  let found: string | null = null;
  walk(text, (start, end, key, _repeated, levels) => {
    if (at > end) return false;
    if (at > start && !key && levels.length > 0) found = pathOf(levels);
    return true;
  });
  return found;
}
