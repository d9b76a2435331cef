// Loaded before the first paint, so a dark choice never flashes light.
try {
  var theme = localStorage.getItem("baton.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch (e) {}
