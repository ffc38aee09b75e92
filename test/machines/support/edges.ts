import { getMicrosteps } from 'xstate';
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

/**
 * The edges the machine itself selects for `event` in `snapshot` (its own guard evaluation, no copy of
 * it), then the eventless (`always`) edges it takes in the same macrostep, one per microstep.
 */
export function edgesTaken(snapshot: AnyMachineSnapshot, event: EventObject): string[] {
  const first = snapshot.machine.getTransitionData(snapshot, event);
  if (first.length === 0) return [];
  const states = [snapshot, ...getMicrosteps(snapshot.machine, snapshot, event).map(([s]) => s as AnyMachineSnapshot)];
  // The first microstep is the event's own; each later one took one eventless transition.
  return [...first.map(edgeIdOf), ...states.slice(2).map((to, i) => edgeIdOf(eventlessTaken(states[i + 1]!, to)))];
}

/** The `always` branch that led from one microstep to the next: the one of an active state whose targets the next one is in. */
function eventlessTaken(from: AnyMachineSnapshot, to: AnyMachineSnapshot): AnyTransitionDefinition {
  const active = new Set(to._nodes as AnyStateNode[]);
  const candidates = (from._nodes as AnyStateNode[]).flatMap((n) => n.always ?? []);
  const taken = candidates.filter((t) => (t.target ?? []).every((n: AnyStateNode) => active.has(n)) && (t.target?.length ?? 0) > 0);
  if (taken.length !== 1) throw new Error(`cannot tell which eventless transition was taken (${taken.length} candidates)`);
  return taken[0]!;
}
