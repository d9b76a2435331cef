import { useCallback, useState } from "react";

/** Light, dark, or as the system says (prefers-color-scheme); kept on this device. */
export type Theme = "system" | "light" | "dark";

const THEME_KEY = "baton.theme";
const ORDER: readonly Theme[] = ["system", "light", "dark"];

function readTheme(): Theme {
  try {
    const stored = localStorage.getItem(THEME_KEY);
    return stored === "light" || stored === "dark" ? stored : "system";
  } catch {
    return "system";
  }
}

function applyTheme(theme: Theme): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === "system") localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, theme);
  } catch {
    // Without storage the choice lasts as long as the page.
  }
}

export function useTheme(): { theme: Theme; nextTheme: Theme; cycle: () => void } {
  const [theme, setTheme] = useState(readTheme);
  const nextTheme = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length]!;
  const cycle = useCallback(() => {
    applyTheme(nextTheme);
    setTheme(nextTheme);
  }, [nextTheme]);
  return { theme, nextTheme, cycle };
}
