import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

// Diagrams are derived from the machine definition alone (its state nodes, as XState resolved
// them), in definition order, so the same machine always yields byte-identical text.

interface Arrow {
  source: AnyStateNode;
  /** Empty for a transition that stays in its state (drawn as a self-loop). */
  targets: AnyStateNode[];
  label: string;
}

const childrenOf = (node: AnyStateNode): AnyStateNode[] => Object.values(node.states) as AnyStateNode[];
const isCompound = (node: AnyStateNode) => childrenOf(node).length > 0;

function guardLabel(t: AnyTransitionDefinition): string {
  const g = t.guard as undefined | string | { type?: string; params?: unknown } | ((...args: unknown[]) => unknown);
  if (g === undefined) return '';
  if (typeof g === 'string') return ` [${g}]`;
  if (typeof g === 'function') return ` [${g.name || 'guard'}]`;
  const params = g.params;
  // Dynamic params (read off the event) have no value to show until the transition runs.
  if (params === undefined || typeof params === 'function') return ` [${g.type}]`;
  if (typeof params !== 'object' || params === null) return ` [${g.type}(…)]`;
  const values = Object.entries(params);
  const args = values.length === 1 ? String(values[0]![1]) : values.map(([k, v]) => `${k}=${String(v)}`).join(', ');
  return ` [${g.type}(${args})]`;
}

/** `done: <src>` / `error: <src>` for invocations, `after <delay>`, `always`, or the event type; then the guard. */
export function transitionLabel(t: AnyTransitionDefinition): string {
  const invoked = /^xstate\.(done|error)\.actor\.(.+)$/.exec(t.eventType);
  const after = /^xstate\.after\.([^.]+)\./.exec(t.eventType);
  let event = t.eventType;
  if (invoked) {
    const inv = (t.source as AnyStateNode).invoke.find((i) => i.id === invoked[2]);
    event = `${invoked[1]}: ${inv ? String(inv.src) : invoked[2]}`;
  } else if (after) event = `after ${after[1]}`;
  else if (t.eventType.startsWith('xstate.done.state.')) event = 'done';
  else if (t.eventType === '') event = 'always';
  return event + guardLabel(t);
}

function arrowsOf(node: AnyStateNode): Arrow[] {
  const own = [...node.transitions.values()].flat().concat(node.always ?? []);
  return own
    .map((t) => ({ source: node, targets: [...(t.target ?? [])] as AnyStateNode[], label: transitionLabel(t) }))
    .concat(childrenOf(node).flatMap(arrowsOf));
}

const isWithin = (node: AnyStateNode, ancestor: AnyStateNode): boolean =>
  node === ancestor || (node.parent ? isWithin(node.parent, ancestor) : false);

const invokes = (node: AnyStateNode) => node.invoke.map((i) => `invoke ${String(i.src)}`);

// ───────────────────────────── Mermaid ─────────────────────────────

const mermaidId = (node: AnyStateNode) => node.path.join('_');
// `;` ends a Mermaid statement and `#` starts a comment; neither belongs in a label.
const mermaidText = (s: string) => s.replace(/[;#\n]/g, ' ');
const ANY_STATE = 'every_state';

/** The lowest compound state holding every end of the arrow: where Mermaid needs the arrow declared. */
function homeOf(arrow: Arrow, root: AnyStateNode): AnyStateNode {
  const ends = [arrow.source, ...arrow.targets];
  let home = arrow.source.parent ?? root;
  while (home !== root && !ends.every((n) => n !== home && isWithin(n, home))) home = home.parent ?? root;
  return home;
}

function mermaidArrow(a: Arrow): string[] {
  const from = a.source.parent ? mermaidId(a.source) : ANY_STATE;
  const targets = a.targets.length ? a.targets.map(mermaidId) : [from];
  return targets.map((to) => `${from} --> ${to} : ${mermaidText(a.label)}`);
}

function mermaidBlock(node: AnyStateNode, arrows: Arrow[], root: AnyStateNode, indent: string): string[] {
  const lines: string[] = [];
  const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
  if (initial) lines.push(`${indent}[*] --> ${mermaidId(initial)}`);
  for (const child of childrenOf(node)) {
    const id = mermaidId(child);
    if (isCompound(child)) {
      lines.push(`${indent}state ${id} {`, ...mermaidBlock(child, arrows, root, `${indent}  `), `${indent}}`);
    } else {
      lines.push(`${indent}state "${mermaidText(child.key)}" as ${id}`);
    }
    for (const line of invokes(child)) lines.push(`${indent}${id} : ${mermaidText(line)}`);
    if (child.type === 'final') lines.push(`${indent}${id} --> [*]`);
  }
  if (node !== root) lines.push(...arrows.filter((a) => homeOf(a, root) === node).flatMap(mermaidArrow).map((l) => indent + l));
  return lines;
}

/**
 * Mermaid `stateDiagram-v2`: compound states as composite states. Arrows between states of
 * different composites are declared after all composites, since Mermaid creates a state on first
 * mention and would otherwise put it in the wrong composite.
 */
export function toMermaid(machine: AnyStateMachine): string {
  const root = machine.root as AnyStateNode;
  const arrows = arrowsOf(root);
  const anywhere = arrows.filter((a) => a.source === root);
  const lines = ['stateDiagram-v2', ...mermaidBlock(root, arrows, root, '  ')];
  // Transitions of the machine itself apply in every state.
  if (anywhere.length) lines.push(`  state "every state" as ${ANY_STATE}`);
  lines.push(...arrows.filter((a) => homeOf(a, root) === root).flatMap(mermaidArrow).map((l) => `  ${l}`));
  return `${lines.join('\n')}\n`;
}

// ───────────────────────────── Graphviz ─────────────────────────────

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const cluster = (node: AnyStateNode) => q(`cluster_${node.id}`);
/** A compound state is drawn as a cluster; arrows attach to its initial-state dot and clip at the border. */
const anchor = (node: AnyStateNode) => q(isCompound(node) ? `${node.id}.[*]` : node.id);
const dotLabel = (lines: string[]) => q(lines.join('\n')).replace(/\n/g, '\\n');

function dotNodes(node: AnyStateNode, indent: string): string[] {
  const lines: string[] = [];
  const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
  if (initial) {
    lines.push(`${indent}${q(`${node.id}.[*]`)} [shape=point, width=0.12, label=""];`);
    lines.push(`${indent}${q(`${node.id}.[*]`)} -> ${anchor(initial)}${isCompound(initial) ? ` [lhead=${cluster(initial)}]` : ''};`);
  }
  for (const child of childrenOf(node)) {
    if (isCompound(child)) {
      lines.push(`${indent}subgraph ${cluster(child)} {`, `${indent}  label=${q(child.key)};`, `${indent}  style=rounded;`);
      lines.push(...dotNodes(child, `${indent}  `), `${indent}}`);
    } else {
      const shape = child.type === 'final' ? ', peripheries=2' : '';
      lines.push(`${indent}${q(child.id)} [label=${dotLabel([child.key, ...invokes(child)])}${shape}];`);
    }
  }
  return lines;
}

function dotArrow(a: Arrow, root: AnyStateNode): string[] {
  const from = a.source === root ? q('every state') : anchor(a.source);
  const targets = a.targets.length ? a.targets : [a.source];
  return targets.map((target) => {
    const attrs = [`label=${q(` ${a.label} `)}`];
    const to = a.source === root && !a.targets.length ? from : anchor(target);
    if (isCompound(a.source) && a.source !== root && !isWithin(target, a.source)) attrs.push(`ltail=${cluster(a.source)}`);
    if (isCompound(target) && target !== root && !isWithin(a.source, target)) attrs.push(`lhead=${cluster(target)}`);
    return `  ${from} -> ${to} [${attrs.join(', ')}];`;
  });
}

/** Graphviz DOT: compound states as clusters (`compound=true` lets arrows end at a cluster's border). */
export function toDot(machine: AnyStateMachine): string {
  const root = machine.root as AnyStateNode;
  const arrows = arrowsOf(root);
  // newrank: Graphviz 2.43's default ranking fails ("trouble in init_rank") on edges between clusters.
  const lines = [
    `digraph ${q(root.id)} {`,
    `  graph [compound=true, newrank=true, fontname="Helvetica", fontsize=12, label=${q(root.id)}, labelloc=t];`,
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
    ...dotNodes(root, '  '),
  ];
  if (arrows.some((a) => a.source === root)) lines.push(`  ${q('every state')} [shape=note, style=dashed];`);
  lines.push(...arrows.flatMap((a) => dotArrow(a, root)), '}');
  return `${lines.join('\n')}\n`;
}
