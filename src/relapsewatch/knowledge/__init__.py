"""Treatment-options knowledge, key-information pages and the help-and-support directory."""
