// Runs `body` with the process's uncaughtException listeners set aside, and answers what it would
// have died of: a pg client's 'error' event with no listener ends an instance, and a test must see it.
export async function uncaughtDuring(body: () => Promise<void>): Promise<Error[]> {
  const uncaught: Error[] = [];
  const catchIt = (err: Error) => void uncaught.push(err);
  const others = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', catchIt);
  try {
    await body();
  } finally {
    process.removeListener('uncaughtException', catchIt);
    for (const l of others) process.on('uncaughtException', l);
  }
  return uncaught;
}
