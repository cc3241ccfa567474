// Distance and bearing from the officer to a camera, and the browser's geolocation.

const R = 6371008.8; // mean Earth radius, metres
const rad = (d) => (d * Math.PI) / 180;

/** Great-circle distance in metres. */
export function distanceM(lat1, lon1, lat2, lon2) {
  const dLat = rad(lat2 - lat1);
  const dLon = rad(lon2 - lon1);
  const a = Math.sin(dLat / 2) ** 2 +
    Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Initial bearing in degrees (0 = north, clockwise). */
export function bearingDeg(lat1, lon1, lat2, lon2) {
  const y = Math.sin(rad(lon2 - lon1)) * Math.cos(rad(lat2));
  const x = Math.cos(rad(lat1)) * Math.sin(rad(lat2)) -
    Math.sin(rad(lat1)) * Math.cos(rad(lat2)) * Math.cos(rad(lon2 - lon1));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}

const POINTS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
const NAMES = ["north", "north-east", "east", "south-east", "south", "south-west", "west",
  "north-west"];

/** "350 m NE" plus the spoken form for screen readers. */
export function describe(me, lat, lon) {
  if (!me || lat == null || lon == null) return null;
  const d = distanceM(me.lat, me.lon, lat, lon);
  const i = Math.round(bearingDeg(me.lat, me.lon, lat, lon) / 45) % 8;
  const dist = d < 1000 ? `${Math.round(d / 10) * 10} m` : `${(d / 1000).toFixed(1)} km`;
  return { text: `${dist} ${POINTS[i]}`, spoken: `${dist} ${NAMES[i]} of you` };
}

/** Watch the position; returns a function that stops watching. */
export function watch(onPosition, onError) {
  if (!("geolocation" in navigator)) {
    onError("This browser cannot share a location.");
    return () => {};
  }
  const id = navigator.geolocation.watchPosition(
    (p) => onPosition({ lat: p.coords.latitude, lon: p.coords.longitude,
      accuracy_m: p.coords.accuracy }),
    (e) => onError(e.code === 1 ? "Location permission was refused." :
      "The phone could not find its location."),
    { enableHighAccuracy: true, maximumAge: 15000, timeout: 30000 },
  );
  return () => navigator.geolocation.clearWatch(id);
}
