import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode, AnyTransitionDefinition, EventObject } from 'xstate';

/** One transition of a machine; each guarded branch of an event is an edge of its own. */
export interface MachineEdge {
  /** `<source id> <event type>[<branch index>]`: stable, and equal for a machine and its `.provide()` copy. */
  id: string;
  /** Readable form for failure messages: `failed --RETRY [failedAt(allocate)]--> allocated.cpe`. */
  label: string;
}

// XState keeps eventless transitions apart from the event map, under the empty event type.
const ALWAYS = '';

function branchesOf(node: AnyStateNode, eventType: string): readonly AnyTransitionDefinition[] {
  return eventType === ALWAYS ? (node.always ?? []) : (node.transitions.get(eventType) ?? []);
}

/** The edge id of a transition definition, whichever copy of the machine it belongs to. */
export function edgeIdOf(t: AnyTransitionDefinition): string {
  const index = branchesOf(t.source, t.eventType).indexOf(t);
  if (index < 0) throw new Error(`transition ${t.eventType} is not one of ${t.source.id}'s own`);
  return `${t.source.id} ${t.eventType}[${index}]`;
}

function guardText(t: AnyTransitionDefinition): string {
  const g = t.guard as undefined | string | { type?: string; params?: unknown } | ((...a: unknown[]) => unknown);
  if (g === undefined) return '';
  if (typeof g === 'string') return ` [${g}]`;
  if (typeof g === 'function') return ` [${g.name || 'inline guard'}]`;
  return ` [${g.type}(${JSON.stringify(g.params ?? '')})]`;
}

function labelOf(t: AnyTransitionDefinition): string {
  const targets = t.target?.length ? t.target.map((n: AnyStateNode) => n.id).join(', ') : '(stays)';
  return `${t.source.id} --${t.eventType || 'always'}${guardText(t)}--> ${targets}`;
}

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => nodesOf(child as AnyStateNode))];
}

/**
 * Every transition the definition declares, read from the state nodes: `on`, invoke `onDone`/`onError`
 * (XState files those under `xstate.done.actor.*`/`xstate.error.actor.*`), `after`, and `always`.
 */
export function machineEdges(machine: AnyStateMachine): MachineEdge[] {
  return nodesOf(machine.root).flatMap((node) => {
    const all = [...node.transitions.values()].flat().concat(node.always ?? []);
    return all.map((t) => ({ id: edgeIdOf(t), label: labelOf(t) }));
  });
}

/** The edges the machine itself selects for `event` in `snapshot` (its own guard evaluation, no copy of it). */
export function edgesTaken(snapshot: AnyMachineSnapshot, event: EventObject): string[] {
  return snapshot.machine.getTransitionData(snapshot, event).map(edgeIdOf);
}
