// Plane and sphere helpers on GeoJSON coordinates ([lon, lat]), for pages that answer without the server.

const EARTH_RADIUS_M = 6371008.8;
const DEGREE = Math.PI / 180;

/** Great-circle distance in metres. */
export function haversineMetres(lat1, lon1, lat2, lon2) {
  const dLat = (lat2 - lat1) * DEGREE;
  const dLon = (lon2 - lon1) * DEGREE;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * DEGREE) * Math.cos(lat2 * DEGREE) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(a));
}

function inRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** True when (x, y) lies inside a GeoJSON Polygon or MultiPolygon (holes respected). */
export function pointInGeometry(x, y, geometry) {
  if (!geometry) return false;
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polygons.some((rings) => inRing(x, y, rings[0]) && !rings.slice(1).some((hole) => inRing(x, y, hole)));
}

/** A representative [lon, lat] of a feature: the point itself, or the mean vertex of its first ring. */
export function featurePoint(feature) {
  const geometry = feature.geometry;
  if (geometry.type === "Point") return geometry.coordinates;
  const ring = geometry.type === "Polygon" ? geometry.coordinates[0] : geometry.coordinates[0][0];
  let x = 0;
  let y = 0;
  for (const [lon, lat] of ring) {
    x += lon;
    y += lat;
  }
  return [x / ring.length, y / ring.length];
}
