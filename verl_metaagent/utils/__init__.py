"""Small helpers shared by the plugin's modules (no verl, torch or ray imports)."""
