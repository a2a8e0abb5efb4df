"""Folium maps: one pure function per map, from GeoDataFrames and options to a folium.Map."""
