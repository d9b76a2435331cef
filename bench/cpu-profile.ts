import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

/**
 * Profiles this process's main thread from now until the returned function is called, which
 * writes a `.cpuprofile` (open it in Chrome DevTools, or `bench/profile-summary.ts`). Unlike
 * `node --cpu-prof`, start-up and module loading stay out of the profile.
 */
export async function startCpuProfile(path: string, samplingIntervalUs = 200): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}
