import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memberAt, repeatedKey } from '../../http/json-text.ts';

const test = suite('http json-text');

test('repeatedKey(text) → the path of the first key given twice in one object, as JSON.parse names keys', () => {
  const cases: [string, string | null][] = [
    ['{}', null],
    ['[[],{},[{}]]', null],
    ['{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}', null],
    ['{"a":1,"a":1}', 'a'],
    ['{"a":1, "\\u0061" :2}', 'a'],
    ['{"\\\\":1,"\\u005c":2}', '\\'],
    // A string that ends in backslashes, a quote escaped after them: neither ends early or late.
    ['{"s":"\\\\\\\\","t":"\\\\\\"","s":0}', 's'],
    ['{"k":"\\",\\"k\\":"}', null],
    ['[0,[1,{"x":[2,{"y":1,"y":2}]}]]', '1.1.x.1.y'],
    ['{"":1,"":2}', ''],
  ];
  for (const [text, path] of cases) {
    JSON.parse(text);
    assert.is(repeatedKey(text), path, text);
  }
});

test('memberAt(text, at) → the member whose string value holds `at`; null in a key or outside strings', () => {
  const text = '{"id":"abc","list":[1,"xyz"],"o":{"k":"v"}}';
  const at = (s: string) => text.indexOf(s);
  assert.is(memberAt(text, at('abc') + 1), 'id');
  assert.is(memberAt(text, at('xyz')), 'list.1');
  assert.is(memberAt(text, at('"v"') + 1), 'o.k');
  assert.is(memberAt(text, at('list') + 1), null);
  assert.is(memberAt(text, at('1,')), null);
});

test.run();
