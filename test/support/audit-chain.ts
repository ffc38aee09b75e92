// "Every event trail is one chain": an audit trail starts at creation, each entry leaves the state
// the previous one arrived at, and it ends where the lifecycle is. Shared by the crash test (rows
// read from the file) and the soak test (events read through the API).

/** One audit entry: public states, and (when the trail records them) the state paths. */
export interface ChainLink {
  type: string;
  from: string | null;
  to: string;
  /** The state path the entry left (`detail.from_state`; null for CREATED) and arrived at (`detail.state`). */
  fromPath?: string | null;
  toPath?: string | null;
  label?: string;
}

/** Every way `trail` (one lifecycle's entries, oldest first) is not one chain ending at `state`. */
export function chainProblems(tag: string, trail: readonly ChainLink[], state: string): string[] {
  const problems: string[] = [];
  const first = trail[0];
  if (!first || first.type !== 'CREATED' || first.from !== null || first.to !== 'pending') problems.push(`${tag}'s audit does not start with CREATED → pending`);
  trail.slice(1).forEach((a, i) => {
    const prev = trail[i]!;
    const at = a.label ?? `#${i + 1}`;
    if (a.type === 'CREATED') problems.push(`${tag}'s audit ${at} is a second CREATED`);
    if (a.from !== prev.to) problems.push(`${tag}'s audit ${at} ${a.type} leaves ${a.from}, previous arrived at ${prev.to}`);
    if (a.fromPath !== undefined && prev.toPath !== undefined && a.fromPath !== prev.toPath) {
      problems.push(`${tag}'s audit ${at} ${a.type} leaves path ${a.fromPath}, previous arrived at ${prev.toPath}`);
    }
  });
  if (trail.length && trail.at(-1)!.to !== state) problems.push(`${tag}'s audit ends at ${trail.at(-1)!.to}, the lifecycle is ${state}`);
  return problems;
}
