"""HTTP dialects of the unified accounting APIs (Merge, Maesn), behind one `Provider` interface."""
