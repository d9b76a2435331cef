/** Memory of this process: the kernel's peak RSS, and RSS sampled while a measurement runs. */

/** Peak resident set size of this process since it started, in bytes (maxRSS is in KiB). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export interface RssSampler {
  /** Stops sampling; the highest RSS seen, in bytes, and how many samples were taken. */
  stop(): { maxRssBytes: number; samples: number };
}

export function sampleRss(intervalMs = 100): RssSampler {
  let max = process.memoryUsage.rss();
  let samples = 1;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > max) max = rss;
    samples++;
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const rss = process.memoryUsage.rss();
      return { maxRssBytes: Math.max(max, rss), samples: samples + 1 };
    },
  };
}
