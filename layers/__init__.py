"""PostGIS storage for gridmap: models, migrations, queries and bulk loaders."""
