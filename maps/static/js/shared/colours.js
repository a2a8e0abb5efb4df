// Colours shared by the pages and their legends (maps/pages.py `_colour` computes the same hash).

export const STATE_COLOURS = {
  reported: "#1e88e5", registered: "#3949ab", dispatched: "#8e24aa", handling: "#fb8c00",
  feedback: "#00897b", verified: "#7cb342", closed: "#9e9e9e", returned: "#6d4c41", postponed: "#fdd835",
};

const PALETTE = ["#e53935", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#d81b60",
  "#3949ab", "#7cb342", "#f4511e", "#546e7a"];

/** A stable colour for a key (a facility type code). */
export function colourFor(key) {
  const text = String(key || "");
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** A grid's colour by households against the 300–500 band (grey when not counted). */
export function householdColour(households) {
  if (households === null || households === undefined) return "#9e9e9e";
  if (households < 300) return "#42a5f5";
  if (households > 500) return "#e53935";
  return "#43a047";
}
