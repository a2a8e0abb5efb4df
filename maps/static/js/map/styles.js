// How each kind of feature is drawn: a Leaflet path style from the feature's properties, by style name.

import {STATE_COLOURS, colourFor, householdColour} from "gridmap/shared/colours.js";

function isOverdue(props) {
  return props.overdue === true || props.overdue === 1 || props.overdue === "true";
}

function sevenOnesColour(props) {
  const share = (props.have || 0) / (props.of || 7);
  if (share >= 1) return "#2e7d32";
  if (share >= 0.7) return "#9e9d24";
  if (share >= 0.4) return "#f9a825";
  return "#c62828";
}

function incidentStyle(props) {
  const colour = STATE_COLOURS[props.state] || "#455a64";
  const overdue = isOverdue(props);
  const count = props.count || 1;
  if (count > 1) {  // a cluster from the tiles: size by count, red edge if any of it is overdue
    return {radius: Math.min(13, 3 + 1.4 * Math.log2(count)), color: overdue ? "#d50000" : "#ffffff",
      weight: overdue ? 1.5 : 1, fill: true, fillColor: colour, fillOpacity: 0.55};
  }
  return {radius: overdue ? 6 : 4, color: overdue ? "#d50000" : colour, weight: overdue ? 3 : 1, fill: true,
    fillColor: colour, fillOpacity: 0.85};
}

export const STYLES = {
  grid_households: (p) => ({color: "#37474f", weight: 1, fill: true, fillColor: householdColour(p.households),
    fillOpacity: 0.4}),
  grid_outline: () => ({color: "#6a1b9a", weight: 1.2, fill: true, fillColor: "#6a1b9a", fillOpacity: 0.03}),
  community: () => ({color: "#ef6c00", weight: 2.5, dashArray: "6 4", fill: false}),
  seven_ones: (p) => {
    const colour = sevenOnesColour(p);
    return {color: colour, weight: 2, fill: true, fillColor: colour, fillOpacity: 0.25};
  },
  circle: (p) => {
    const colour = colourFor(p.type_code);
    return {color: colour, weight: 1, fill: true, fillColor: colour, fillOpacity: 0.15};
  },
  buildings: () => ({color: "#5d4037", weight: 0.5, fill: true, fillColor: "#a1887f", fillOpacity: 0.6}),
  uncovered: (p) => {
    const count = p.count || 1;
    return {color: "#b71c1c", weight: 0.8, fill: true, fillColor: "#ff5252", fillOpacity: 0.7,
      radius: count > 1 ? Math.min(18, 3 + 2.2 * Math.log2(count)) : 3};
  },
  roster_gap: (p) => {
    // outline only: the households colour underneath stays readable and its popup carries the audit too
    const roles = p.vacant_roles ? 1 : 0;
    return {color: "#ff8f00", weight: roles ? 3 : 2, dashArray: roles ? null : "5 4", fill: false};
  },
  roster_building: () => ({radius: 5, color: "#e65100", weight: 2, fill: true, fillColor: "#ff8f00",
    fillOpacity: 0.9}),
  visit_share: (p) => {  // 入户走访: the month's share of households visited
    const share = Number(p.visit_share || 0);
    const colour = share >= 0.7 ? "#2e7d32" : share >= 0.3 ? "#f9a825" : "#c62828";
    return {color: colour, weight: 1.5, fill: true, fillColor: colour, fillOpacity: 0.35};
  },
  stale_building: () => ({radius: 5, color: "#4a148c", weight: 1.5, fill: true, fillColor: "#6a1b9a",
    fillOpacity: 0.8}),
  problem: () => ({color: "#d50000", weight: 3, dashArray: "4 3", fill: true, fillColor: "#ff1744",
    fillOpacity: 0.3, radius: 7}),
  incident: incidentStyle,
};

/** The style function called ``name`` (an empty style for an unknown name). */
export function styleNamed(name) {
  return STYLES[name] || (() => ({}));
}
